//! The command-line tools: classify, import, search, reindex.

use std::io::Write;
use std::process::Stdio;

use serde_json::Value;

use crate::server::binary;

fn tags_of(line: &Value) -> Vec<String> {
    let mut tags: Vec<String> = line["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|tag| {
            format!(
                "{}:{}",
                tag["tag"].as_str().unwrap_or(""),
                tag["polarity"].as_str().unwrap_or("")
            )
        })
        .collect();
    tags.sort();
    tags
}

#[test]
fn classify_reads_jsonl_and_needs_no_server() {
    let mut child = binary()
        .arg("classify")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let input = "{\"id\":\"a\",\"text\":\"物流很快，但是衣服起球\"}\n{\"id\":2,\"text\":\"物流不快\"}\n{\"id\":\"c\",\"text\":\"很好，推荐购买\"}\n";
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("output");
    assert!(output.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["id"], "a");
    assert_eq!(
        tags_of(&lines[0]),
        vec!["logistics.speed:pos", "product.material:neg"]
    );
    assert_eq!(
        lines[0]["tags"][1]["evidence"]["span"],
        serde_json::json!([9, 11])
    );
    assert_eq!(lines[1]["id"], 2);
    assert_eq!(tags_of(&lines[1]), vec!["logistics.speed:neg"]);
    assert!(tags_of(&lines[2]).is_empty());
    assert_eq!(lines[2]["sentiment"], "pos");
}

#[test]
fn import_csv_then_search_and_reindex() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv_path = dir.path().join("export.csv");
    std::fs::write(
        &csv_path,
        "评价内容,评分,商品ID,订单号,买家昵称,评价时间\n\
         面料起球，洗一次就不行了,1,QH-HD-002,o-1,buyer-1,2026-11-20 10:00:00\n\
         尺码标准，穿着合身,5,QH-TS-001,o-2,buyer-2,2026-11-19 08:30:00\n\
         ,5,QH-TS-001,o-3,buyer-3,2026-11-19 08:30:00\n",
    )
    .expect("write csv");
    let data_dir = dir.path().join("data");
    let import = || {
        binary()
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["import", "--channel", "tmall"])
            .arg(&csv_path)
            .output()
            .expect("import")
    };
    let output = import();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("3 rows read, 2 stored"), "{stdout}");
    assert!(stderr.contains("row 3: text"), "{stderr}");
    assert!(stdout.contains("2 items analysed and indexed"), "{stdout}");

    let search = |args: &[&str]| {
        let output = binary()
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("search")
            .args(args)
            .output()
            .expect("search");
        String::from_utf8_lossy(&output.stdout).to_string()
    };
    let hits = search(&["起球", "--tag", "product.material"]);
    assert!(hits.starts_with("1 hits"), "{hits}");
    assert!(hits.contains("product.material:neg"), "{hits}");

    let output = binary()
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["reindex", "--reanalyse"])
        .output()
        .expect("reindex");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("2 items re-analysed"));
    assert!(search(&["合身"]).starts_with("1 hits"));

    // Re-importing the same file stores nothing twice.
    let output = import();
    assert!(String::from_utf8_lossy(&output.stdout).contains("0 stored"));
}
