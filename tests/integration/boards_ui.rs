//! Boards, search for the UI (highlights, evidence, CSV export) and the
//! UI's static files, against the real service with a fixture whose every
//! number is worked out by hand below.
//!
//! Current period 2026-11-14 .. 2026-11-21 (UTC+8), previous 2026-11-07 .. 2026-11-14.
//!
//! | # | text | source / channel | sku, category | tags | sentiment |
//! |---|---|---|---|---|---|
//! | c1-c4 | 物流/快递/发货太慢 | review / tmall | SKU-D 食品 | logistics.speed neg | neg |
//! | c5-c6 | 物流/快递太慢 | chat / wechat | SKU-D 食品 | logistics.speed neg | neg |
//! | c7 | 物流很快 | review / jd | SKU-D 食品 | logistics.speed pos | pos |
//! | c8-c9 | 衣服起球了 | review / tmall | SKU-A 服装 | product.material neg | neg |
//! | c10 | 衣服起球了 | refund (七天无理由) / tmall | SKU-B 服装 | product.material neg | neg |
//! | c11 | 面料很舒服 | review / jd | SKU-B 服装 | product.material pos | pos |
//! | c12 | 尺码偏小 | review / jd | SKU-A 服装 | product.size_fit neg | neg |
//! | c13 | 客服态度很差，不理人 | chat / wechat | - | service.attitude neg, service.response neg | neg |
//! | c14 | 客服态度很好 | survey / store | - | service.attitude pos | pos |
//! | c15 | 包装破损 | review / tmall | SKU-C 家居 | logistics.packaging neg | neg |
//! | p1-p2 | 物流太慢 | review / tmall | SKU-D 食品 | logistics.speed neg | neg |
//! | p3-p4 | 物流很快 | review / jd | SKU-D 食品 | logistics.speed pos | pos |
//! | p5 | 衣服起球了 | review / tmall | SKU-A 服装 | product.material neg | neg |
//! | p6 | 客服态度很好 | survey / store | - | service.attitude pos | pos |
//! | old | 物流太慢 (2026-10-01, outside both periods) | review / tmall | SKU-D 食品 | logistics.speed neg | neg |

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::server::{repo_root, Server};

const SLOW_A: &str = "物流太慢了，等了一个星期";
const SLOW_B: &str = "快递太慢了，一个星期才到";
const SLOW_C: &str = "发货太慢了";
const FAST: &str = "物流很快，第二天就到了";
const PILLING: &str = "衣服起球了";
const SOFT: &str = "面料很舒服，穿着很舒服";
const SMALL: &str = "尺码偏小，建议拍大一码";
const RUDE: &str = "客服态度很差，不理人";
const KIND: &str = "客服态度很好，很耐心";
const CRUSHED: &str = "包装破损，盒子都压扁了";

/// What the shipped models give each fixture text: the numbers below rest on it.
fn expected_tags(text: &str) -> (Vec<(&'static str, &'static str)>, &'static str) {
    match text {
        SLOW_A | SLOW_B | SLOW_C => (vec![("logistics.speed", "neg")], "neg"),
        FAST => (vec![("logistics.speed", "pos")], "pos"),
        PILLING => (vec![("product.material", "neg")], "neg"),
        SOFT => (vec![("product.material", "pos")], "pos"),
        SMALL => (vec![("product.size_fit", "neg")], "neg"),
        RUDE => (
            vec![("service.attitude", "neg"), ("service.response", "neg")],
            "neg",
        ),
        KIND => (vec![("service.attitude", "pos")], "pos"),
        CRUSHED => (vec![("logistics.packaging", "neg")], "neg"),
        other => panic!("no expectation for {other}"),
    }
}

fn item(
    id: &str,
    text: &str,
    source: &str,
    channel: &str,
    sku: Option<(&str, &str)>,
    at: &str,
) -> Value {
    let mut item = json!({"external_id": id, "source": source, "channel": channel, "text": text,
                          "consumer_id": format!("c-{id}"), "created_at": at});
    if let Some((sku, category)) = sku {
        item["sku"] = json!(sku);
        item["category"] = json!(category);
        item["product_name"] = json!(format!("商品{sku}"));
    }
    item
}

fn fixture_items() -> Vec<Value> {
    let food = Some(("SKU-D", "食品"));
    let mut refund = item(
        "c10",
        PILLING,
        "refund",
        "tmall",
        Some(("SKU-B", "服装")),
        "2026-11-19T12:00:00+08:00",
    );
    refund["reason_code"] = json!("七天无理由");
    vec![
        item(
            "c1",
            SLOW_A,
            "review",
            "tmall",
            food,
            "2026-11-18T10:00:00+08:00",
        ),
        item(
            "c2",
            SLOW_B,
            "review",
            "tmall",
            food,
            "2026-11-18T11:00:00+08:00",
        ),
        item(
            "c3",
            SLOW_C,
            "review",
            "tmall",
            food,
            "2026-11-18T12:00:00+08:00",
        ),
        item(
            "c4",
            SLOW_A,
            "review",
            "tmall",
            food,
            "2026-11-18T13:00:00+08:00",
        ),
        item(
            "c5",
            SLOW_A,
            "chat",
            "wechat",
            food,
            "2026-11-18T14:00:00+08:00",
        ),
        item(
            "c6",
            SLOW_B,
            "chat",
            "wechat",
            food,
            "2026-11-18T15:00:00+08:00",
        ),
        item(
            "c7",
            FAST,
            "review",
            "jd",
            food,
            "2026-11-15T09:00:00+08:00",
        ),
        item(
            "c8",
            PILLING,
            "review",
            "tmall",
            Some(("SKU-A", "服装")),
            "2026-11-19T10:00:00+08:00",
        ),
        item(
            "c9",
            PILLING,
            "review",
            "tmall",
            Some(("SKU-A", "服装")),
            "2026-11-19T11:00:00+08:00",
        ),
        refund,
        item(
            "c11",
            SOFT,
            "review",
            "jd",
            Some(("SKU-B", "服装")),
            "2026-11-19T13:00:00+08:00",
        ),
        item(
            "c12",
            SMALL,
            "review",
            "jd",
            Some(("SKU-A", "服装")),
            "2026-11-20T10:00:00+08:00",
        ),
        item(
            "c13",
            RUDE,
            "chat",
            "wechat",
            None,
            "2026-11-20T11:00:00+08:00",
        ),
        item(
            "c14",
            KIND,
            "survey",
            "store",
            None,
            "2026-11-16T10:00:00+08:00",
        ),
        item(
            "c15",
            CRUSHED,
            "review",
            "tmall",
            Some(("SKU-C", "家居")),
            "2026-11-17T10:00:00+08:00",
        ),
        item(
            "p1",
            SLOW_A,
            "review",
            "tmall",
            food,
            "2026-11-10T10:00:00+08:00",
        ),
        item(
            "p2",
            SLOW_A,
            "review",
            "tmall",
            food,
            "2026-11-10T11:00:00+08:00",
        ),
        item(
            "p3",
            FAST,
            "review",
            "jd",
            food,
            "2026-11-11T10:00:00+08:00",
        ),
        item(
            "p4",
            FAST,
            "review",
            "jd",
            food,
            "2026-11-11T11:00:00+08:00",
        ),
        item(
            "p5",
            PILLING,
            "review",
            "tmall",
            Some(("SKU-A", "服装")),
            "2026-11-12T10:00:00+08:00",
        ),
        item(
            "p6",
            KIND,
            "survey",
            "store",
            None,
            "2026-11-13T10:00:00+08:00",
        ),
        item(
            "old",
            SLOW_A,
            "review",
            "tmall",
            food,
            "2026-10-01T10:00:00+08:00",
        ),
    ]
}

const FIXTURE_BOARD: &str = r#"
id = "fixture"
order = 99
title = { zh = "测试看板", en = "Fixture board" }
description = { zh = "测试", en = "Test" }

[[widgets]]
id = "rising_all"
type = "rising_issues"
title = { zh = "上升问题（不设门槛）", en = "Rising issues, no threshold" }
options = { min_count = 1 }

[[widgets]]
id = "category_heat"
type = "heatmap"
title = { zh = "类目", en = "Category" }
options = { dimension = "category" }

[[widgets]]
id = "aspects"
type = "praise_complaint"
title = { zh = "维度", en = "Aspects" }
options = { tags = ["product.size_fit", "product.price"] }

[[widgets]]
id = "followup_numbers"
type = "followup_stats"
title = { zh = "跟进", en = "Follow-ups" }

[[widgets]]
id = "followup_items"
type = "followup_queue"
title = { zh = "队列", en = "Queue" }
"#;

/// The shipped boards plus a fixture board, and a small web directory.
fn dashboards_dir(root: &Path) -> std::path::PathBuf {
    let dashboards = root.join("dashboards");
    let boards = dashboards.join("boards");
    std::fs::create_dir_all(&boards).expect("mkdir boards");
    for entry in std::fs::read_dir(repo_root().join("dashboards/boards")).expect("shipped boards") {
        let path = entry.expect("entry").path();
        if path
            .extension()
            .is_some_and(|extension| extension == "toml")
        {
            std::fs::copy(&path, boards.join(path.file_name().expect("name"))).expect("copy");
        }
    }
    std::fs::write(boards.join("fixture.toml"), FIXTURE_BOARD).expect("fixture board");
    let web = dashboards.join("web");
    std::fs::create_dir_all(web.join("js")).expect("mkdir web");
    std::fs::write(web.join("index.html"), "<!doctype html><title>心声</title>").expect("index");
    std::fs::write(web.join("js/app.js"), "export const ready = true;\n").expect("js");
    std::fs::write(root.join("secret.txt"), "outside the web directory").expect("secret");
    dashboards
}

struct Fixture {
    _dir: tempfile::TempDir,
    server: Server,
    /// external id → stored analysis.
    analyses: std::collections::HashMap<String, Value>,
}

fn start_with_fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let dashboards = dashboards_dir(dir.path());
    let data = dir.path().join("data");
    let server = Server::start(
        &data,
        &[(
            "XINSHENG_DASHBOARDS_DIR",
            dashboards.to_str().expect("utf-8 path"),
        )],
        &[],
    );
    let items = fixture_items();
    let (status, answer) = server.post(
        "/api/v1/feedback",
        serde_json::to_vec(&items).expect("json"),
    );
    assert_eq!(status, 202, "{answer}");
    server.wait_idle();
    let mut analyses = std::collections::HashMap::new();
    for (position, stored) in answer["items"]
        .as_array()
        .expect("items")
        .iter()
        .enumerate()
    {
        let (_, feedback) = server.get(&format!("/api/v1/feedback/{}", stored["id"]));
        let analysis = feedback["analysis"].clone();
        let text = items[position]["text"].as_str().expect("text");
        let (tags, sentiment) = expected_tags(text);
        let mut found: Vec<(String, String)> = analysis["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .map(|tag| {
                (
                    tag["tag"].as_str().unwrap_or("").into(),
                    tag["polarity"].as_str().unwrap_or("").into(),
                )
            })
            .collect();
        found.sort();
        let wanted: Vec<(String, String)> = tags
            .iter()
            .map(|(tag, polarity)| (tag.to_string(), polarity.to_string()))
            .collect();
        assert_eq!(
            (found, analysis["sentiment"].as_str().unwrap_or("")),
            (wanted, sentiment),
            "the fixture's hand-computed numbers assume this analysis of {text:?}"
        );
        analyses.insert(
            stored["external_id"].as_str().expect("id").to_string(),
            analysis,
        );
    }
    Fixture {
        _dir: dir,
        server,
        analyses,
    }
}

const PERIOD: &str = "from=2026-11-14&to=2026-11-21";

fn close(actual: &Value, expected: f64) -> bool {
    actual
        .as_f64()
        .is_some_and(|actual| (actual - expected).abs() < 1e-9)
}

fn tile<'a>(board: &'a Value, widget: &str, key: &str, library: Option<&str>) -> &'a Value {
    board["widgets"][widget]["tiles"]
        .as_array()
        .expect("tiles")
        .iter()
        .find(|tile| tile["key"] == key && tile["library"].as_str() == library)
        .unwrap_or_else(|| panic!("no tile {key} {library:?} in {}", board["widgets"][widget]))
}

fn assert_tile(
    board: &Value,
    key: &str,
    library: Option<&str>,
    value: f64,
    previous: f64,
    change: Option<f64>,
) {
    let tile = tile(board, "kpis", key, library);
    assert!(close(&tile["value"], value), "{key} {library:?}: {tile}");
    assert!(
        close(&tile["previous"], previous),
        "{key} {library:?}: {tile}"
    );
    match change {
        Some(change) => assert!(close(&tile["change"], change), "{key} {library:?}: {tile}"),
        None => assert!(tile["change"].is_null(), "{tile}"),
    }
}

/// Negative items per keyword, counted from the stored analyses (the
/// database), for the items a board covers in the current period.
fn keyword_counts(fixture: &Fixture, covered: impl Fn(&Value) -> bool) -> Vec<(String, u64)> {
    let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
    for item in fixture_items() {
        let external_id = item["external_id"].as_str().expect("id");
        if !external_id.starts_with('c') {
            continue;
        }
        let analysis = &fixture.analyses[external_id];
        if analysis["sentiment"] != "neg" || !covered(analysis) {
            continue;
        }
        for keyword in analysis["keywords"].as_array().expect("keywords") {
            *counts
                .entry(keyword.as_str().expect("keyword").to_string())
                .or_default() += 1;
        }
    }
    let mut rows: Vec<(String, u64)> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows
}

fn has_library(analysis: &Value, library: &str) -> bool {
    analysis["tags"]
        .as_array()
        .is_some_and(|tags| tags.iter().any(|tag| tag["library"] == library))
}

#[test]
fn boards_count_the_fixture_exactly() {
    let fixture = start_with_fixture();
    let server = &fixture.server;

    let (status, list) = server.get("/api/v1/boards");
    assert_eq!(status, 200, "{list}");
    let ids: Vec<&str> = list["boards"]
        .as_array()
        .expect("boards")
        .iter()
        .filter_map(|board| board["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "issues",
            "product",
            "logistics",
            "service",
            "followups",
            "fixture"
        ]
    );
    assert_eq!(list["boards"][0]["title"]["zh"], "客服经理·问题看板");
    assert_eq!(list["boards"][2]["library"], "logistics");

    // The issue board: 15 items now (12 negative), 6 before (3 negative).
    let (status, issues) = server.get(&format!("/api/v1/boards/issues?{PERIOD}"));
    assert_eq!(status, 200, "{issues}");
    assert_eq!(issues["board"]["id"], "issues");
    assert_eq!(issues["board"]["widgets"][0]["type"], "kpi_tiles");
    assert_eq!(issues["period"]["from"], "2026-11-14T00:00:00+08:00");
    assert_eq!(
        issues["period"]["previous_from"],
        "2026-11-07T00:00:00+08:00"
    );
    assert_eq!(issues["period"]["previous_to"], "2026-11-14T00:00:00+08:00");
    assert_eq!(
        issues["filters"],
        json!({"source": null, "channel": null, "sku": null, "category": null, "product_name": null, "library": null})
    );
    assert_tile(&issues, "volume", None, 15.0, 6.0, Some(1.5));
    assert_tile(&issues, "negative_rate", None, 0.8, 0.5, Some(0.3));
    // Satisfaction = positive share of the library's mentions.
    assert_tile(
        &issues,
        "satisfaction",
        Some("logistics"),
        1.0 / 8.0,
        2.0 / 4.0,
        Some(0.125 - 0.5),
    );
    assert_tile(
        &issues,
        "satisfaction",
        Some("product"),
        1.0 / 5.0,
        0.0,
        Some(0.2),
    );
    assert_tile(
        &issues,
        "satisfaction",
        Some("service"),
        1.0 / 3.0,
        1.0,
        Some(1.0 / 3.0 - 1.0),
    );
    // The core API's summary fields are still there.
    assert_eq!(issues["volume"], 15);
    assert_eq!(issues["previous"]["volume"], 6);

    let ranking = &issues["widgets"]["top_issues"]["rows"];
    assert_eq!(
        ranking[0],
        json!({"tag": "logistics.speed", "name": ranking[0]["name"], "library": "logistics", "neg": 6, "previous_neg": 2, "change": 4, "total": 7})
    );
    assert_eq!(
        (
            ranking[1]["tag"].as_str(),
            ranking[1]["neg"].as_u64(),
            ranking[1]["change"].as_i64()
        ),
        (Some("product.material"), Some(3), Some(2))
    );
    let ranked: Vec<&str> = ranking
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|row| row["tag"].as_str())
        .collect();
    assert_eq!(
        ranked,
        [
            "logistics.speed",
            "product.material",
            "logistics.packaging",
            "product.size_fit",
            "service.attitude",
            "service.response"
        ]
    );

    // Rising issues: only logistics.speed has 5 negative mentions; tags that
    // grew more (packaging, size, response: 0 → 100 %) are below min_count.
    let rising = &issues["widgets"]["rising"];
    assert_eq!(rising["min_count"], 5);
    assert_eq!(rising["rows"].as_array().map(Vec::len), Some(1), "{rising}");
    assert_eq!(rising["rows"][0]["tag"], "logistics.speed");
    assert!(close(&rising["rows"][0]["share"], 6.0 / 7.0));
    assert!(close(&rising["rows"][0]["previous_share"], 0.5));
    assert!(close(&rising["rows"][0]["growth"], 6.0 / 7.0 - 0.5));
    // Without a threshold, the same numbers rank them above it.
    let (_, fixture_board) = server.get(&format!("/api/v1/boards/fixture?{PERIOD}"));
    let all_rising: Vec<&str> = fixture_board["widgets"]["rising_all"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|row| row["tag"].as_str())
        .collect();
    assert_eq!(
        all_rising,
        [
            "logistics.packaging",
            "product.size_fit",
            "service.response",
            "service.attitude",
            "logistics.speed"
        ],
        "material fell from 100 % to 75 % negative: not rising"
    );

    let by_source = &issues["widgets"]["by_source"];
    assert_eq!(by_source["by"], "source");
    assert_eq!(
        by_source["rows"],
        json!([
            {"key": "review", "volume": 10, "negative": 8, "negative_rate": 0.8},
            {"key": "chat", "volume": 3, "negative": 3, "negative_rate": 1.0},
            {"key": "refund", "volume": 1, "negative": 1, "negative_rate": 1.0},
            {"key": "survey", "volume": 1, "negative": 0, "negative_rate": 0.0},
        ])
    );
    let channels: Vec<(String, u64, u64)> = issues["widgets"]["by_channel"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            (
                row["key"].as_str().unwrap_or("").to_string(),
                row["volume"].as_u64().unwrap_or(0),
                row["negative"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        channels,
        [
            ("tmall".into(), 8, 8),
            ("jd".into(), 3, 1),
            ("wechat".into(), 3, 3),
            ("store".into(), 1, 0)
        ]
    );
    let series = issues["widgets"]["trend"]["series"]
        .as_array()
        .expect("series");
    let volumes: Vec<u64> = series
        .iter()
        .filter_map(|point| point["volume"].as_u64())
        .collect();
    let negatives: Vec<u64> = series
        .iter()
        .filter_map(|point| point["negative"].as_u64())
        .collect();
    assert_eq!(volumes, [0, 1, 1, 1, 6, 4, 2]);
    assert_eq!(negatives, [0, 0, 0, 1, 6, 3, 2]);
    assert_eq!(series[4]["libraries"]["logistics"]["neg"], 6);
    assert_eq!(
        issues["widgets"]["refund_reasons"]["rows"][0],
        json!({"reason": "七天无理由", "refunds": 1, "tags": [{"tag": "product.material", "name": issues["widgets"]["refund_reasons"]["rows"][0]["tags"][0]["name"], "neg": 1}]})
    );

    // Heat map by category, all libraries: rows and columns by negative mentions.
    let heat = &fixture_board["widgets"]["category_heat"];
    assert_eq!(heat["rows"], json!(["食品", "服装", "家居"]));
    let columns: Vec<&str> = heat["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|column| column["tag"].as_str())
        .collect();
    assert_eq!(
        columns,
        [
            "logistics.speed",
            "product.material",
            "logistics.packaging",
            "product.size_fit"
        ]
    );
    assert_eq!(
        heat["cells"],
        json!([[0, 0, 6], [1, 1, 3], [1, 3, 1], [2, 2, 1]])
    );
    let aspects = &fixture_board["widgets"]["aspects"]["rows"];
    assert_eq!(
        (
            aspects[0]["tag"].as_str(),
            aspects[0]["pos"].as_u64(),
            aspects[0]["neg"].as_u64()
        ),
        (Some("product.size_fit"), Some(0), Some(1))
    );
    assert_eq!(
        (
            aspects[1]["tag"].as_str(),
            aspects[1]["pos"].as_u64(),
            aspects[1]["neg"].as_u64()
        ),
        (Some("product.price"), Some(0), Some(0))
    );
    // The follow-up queue is not built yet: its widgets answer zeros.
    assert_eq!(fixture_board["widgets"]["followup_numbers"]["total"], 0);
    assert_eq!(
        fixture_board["widgets"]["followup_items"],
        json!({"total": 0, "items": []})
    );

    // The product board counts items with a product mention, product tags only.
    let (_, product) = server.get(&format!("/api/v1/boards/product?{PERIOD}"));
    assert_eq!(product["filters"]["library"], "product");
    assert_tile(&product, "volume", None, 5.0, 1.0, Some(4.0));
    assert_tile(&product, "negative_rate", None, 0.8, 1.0, Some(-0.2));
    assert_tile(
        &product,
        "satisfaction",
        Some("product"),
        0.2,
        0.0,
        Some(0.2),
    );
    assert_eq!(
        product["widgets"]["kpis"]["tiles"].as_array().map(Vec::len),
        Some(3)
    );
    let sku_heat = &product["widgets"]["sku_heatmap"];
    assert_eq!(
        sku_heat["rows"],
        json!(["SKU-A", "SKU-B"]),
        "SKU-C/D have no product complaint"
    );
    let sku_columns: Vec<&str> = sku_heat["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|column| column["tag"].as_str())
        .collect();
    assert_eq!(sku_columns, ["product.material", "product.size_fit"]);
    assert_eq!(sku_heat["cells"], json!([[0, 0, 2], [0, 1, 1], [1, 0, 1]]));
    let praise = &product["widgets"]["praise_complaint"]["rows"];
    assert_eq!(
        (
            praise[0]["tag"].as_str(),
            praise[0]["pos"].as_u64(),
            praise[0]["neg"].as_u64()
        ),
        (Some("product.material"), Some(1), Some(3))
    );
    let keywords: Vec<(String, u64)> = product["widgets"]["complaint_keywords"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            (
                row["keyword"].as_str().unwrap_or("").to_string(),
                row["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let mut expected_keywords =
        keyword_counts(&fixture, |analysis| has_library(analysis, "product"));
    expected_keywords.truncate(20);
    assert!(!expected_keywords.is_empty());
    assert_eq!(keywords, expected_keywords);

    // The logistics board: logistics items and tags only, previous period too.
    let (_, logistics) = server.get(&format!("/api/v1/boards/logistics?{PERIOD}"));
    assert_tile(&logistics, "volume", None, 8.0, 4.0, Some(1.0));
    assert_tile(
        &logistics,
        "negative_rate",
        None,
        7.0 / 8.0,
        0.5,
        Some(7.0 / 8.0 - 0.5),
    );
    assert_tile(
        &logistics,
        "satisfaction",
        Some("logistics"),
        0.125,
        0.5,
        Some(-0.375),
    );
    let logistics_tags: Vec<(&str, u64, u64)> = logistics["widgets"]["top_issues"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            (
                row["tag"].as_str().unwrap_or(""),
                row["neg"].as_u64().unwrap_or(0),
                row["previous_neg"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        logistics_tags,
        [("logistics.speed", 6, 2), ("logistics.packaging", 1, 0)]
    );
    assert!(
        logistics["libraries"].get("product").is_none(),
        "{}",
        logistics["libraries"]
    );
    assert!(logistics["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .all(|tag| tag["library"] == "logistics"));
    let logistics_series = logistics["widgets"]["trend"]["series"]
        .as_array()
        .expect("series");
    assert!(logistics_series.iter().all(|point| point["libraries"]
        .as_object()
        .is_some_and(|libraries| libraries.len() == 1)));
    let mut logistics_keywords =
        keyword_counts(&fixture, |analysis| has_library(analysis, "logistics"));
    logistics_keywords.truncate(20);
    let found: Vec<(String, u64)> = logistics["widgets"]["complaint_keywords"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            (
                row["keyword"].as_str().unwrap_or("").to_string(),
                row["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(found, logistics_keywords);

    // Board filters narrow every widget; the answer echoes them.
    let (_, jd) = server.get(&format!("/api/v1/boards/issues?{PERIOD}&channel=jd"));
    assert_tile(&jd, "volume", None, 3.0, 2.0, Some(0.5));
    assert_eq!(jd["filters"]["channel"], "jd");
    let (_, weekly) = server.get(&format!(
        "/api/v1/boards/service?{PERIOD}&interval=week&source=chat"
    ));
    assert_eq!(
        weekly["widgets"]["trend"]["series"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_tile(&weekly, "volume", None, 1.0, 0.0, None);

    // A heat map row drills down by product name: boards and search take it.
    let product_filter = "product_name=%E5%95%86%E5%93%81SKU-A"; // 商品SKU-A
    let (_, one_product) = server.get(&format!("/api/v1/boards/product?{PERIOD}&{product_filter}"));
    assert_eq!(one_product["filters"]["product_name"], "商品SKU-A");
    assert_tile(&one_product, "volume", None, 3.0, 1.0, Some(2.0));
    let (_, found) = server.get(&format!("/api/v1/search?{product_filter}"));
    assert_eq!(found["total"], 4, "c8, c9, c12 and p5");

    let (status, missing) = server.get("/api/v1/boards/nope");
    assert_eq!(
        (status, missing["error"]["code"].as_str()),
        (404, Some("unknown_board"))
    );
    let (status, bad) = server.get("/api/v1/boards/product?intervall=day");
    assert_eq!(
        (status, bad["error"]["field"].as_str()),
        (400, Some("intervall"))
    );
    let (status, bad) = server.get("/api/v1/boards/product?from=2026-11-21&to=2026-11-14");
    assert_eq!(
        (status, bad["error"]["field"].as_str()),
        (400, Some("from"))
    );
}

#[test]
fn search_hits_carry_highlights_and_evidence_and_export_as_csv() {
    let fixture = start_with_fixture();
    let server = &fixture.server;

    let (status, result) = server.get("/api/v1/search?q=%E8%B5%B7%E7%90%83&sort=newest"); // 起球
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["total"], 4);
    for hit in result["hits"].as_array().expect("hits") {
        assert_eq!(hit["text"], PILLING);
        assert_eq!(hit["highlights"], json!([[2, 4]]), "{hit}");
        let tag = &hit["tags"][0];
        assert_eq!(
            (
                tag["tag"].as_str(),
                tag["polarity"].as_str(),
                tag["library"].as_str()
            ),
            (Some("product.material"), Some("neg"), Some("product"))
        );
        assert_eq!(tag["name"], "材质/面料/手感");
        let span = &tag["evidence"]["span"];
        let (start, end) = (
            span[0].as_u64().expect("start") as usize,
            span[1].as_u64().expect("end") as usize,
        );
        let underlined: String = PILLING.chars().skip(start).take(end - start).collect();
        assert_eq!(
            underlined,
            tag["evidence"]["text"].as_str().expect("evidence text")
        );
        assert!(underlined.contains("起球"), "{tag}");
    }
    for facet in [
        "library",
        "polarity",
        "sku",
        "category",
        "sentiment",
        "source",
        "channel",
        "tag",
    ] {
        assert!(
            result["facets"][facet].is_object(),
            "facet {facet}: {}",
            result["facets"]
        );
    }
    assert_eq!(result["facets"]["sku"], json!({"SKU-A": 3, "SKU-B": 1}));
    assert_eq!(result["facets"]["library"], json!({"product": 4}));

    // Every highlight covers exactly a query word, in char offsets.
    let (_, slow) = server.get("/api/v1/search?q=%E5%A4%AA%E6%85%A2&limit=50"); // 太慢
    assert_eq!(slow["total"], 9);
    for hit in slow["hits"].as_array().expect("hits") {
        let text: Vec<char> = hit["text"].as_str().expect("text").chars().collect();
        let highlights = hit["highlights"].as_array().expect("highlights");
        assert!(!highlights.is_empty(), "{hit}");
        for highlight in highlights {
            let (start, end) = (
                highlight[0].as_u64().expect("start") as usize,
                highlight[1].as_u64().expect("end") as usize,
            );
            let marked: String = text[start..end].iter().collect();
            assert!(marked.contains("太慢"), "{marked} in {hit}");
        }
    }
    let (_, no_text) = server.get("/api/v1/search?tag=logistics.speed");
    assert_eq!(no_text["hits"][0]["highlights"], json!([]));

    // Export: every matching row, newest first, BOM and header first.
    let response = server
        .client
        .get(format!(
            "{}/api/v1/search/export?tag=logistics.speed&polarity=neg&sort=newest&format=csv",
            server.base
        ))
        .send()
        .expect("export");
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert!(headers["content-disposition"]
        .to_str()
        .expect("ascii")
        .starts_with("attachment"));
    assert_eq!(headers["x-export-rows"], "9");
    let bytes = response.bytes().expect("body");
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "UTF-8 BOM for Excel");
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(
        header,
        [
            "id",
            "created_at",
            "source",
            "channel",
            "sku",
            "product_name",
            "category",
            "consumer_id",
            "rating",
            "sentiment",
            "tags",
            "text"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|row| row.expect("row")).collect();
    assert_eq!(rows.len(), 9, "6 now, 2 before, 1 older");
    assert_eq!(&rows[0][1], "2026-11-18T15:00:00+08:00");
    assert_eq!(
        (&rows[0][2], &rows[0][3], &rows[0][4], &rows[0][7]),
        ("chat", "wechat", "SKU-D", "c-c6")
    );
    assert_eq!(&rows[0][10], "logistics.speed:neg");
    assert_eq!(&rows[0][11], SLOW_B);
    assert_eq!(&rows[8][1], "2026-10-01T10:00:00+08:00");

    let response = server
        .client
        .get(format!(
            "{}/api/v1/search/export?q=%E8%B5%B7%E7%90%83&from=2026-11-14&to=2026-11-21",
            server.base
        ))
        .send()
        .expect("export");
    let body = response.text().expect("text");
    assert_eq!(
        body.lines().count(),
        1 + 3,
        "header and the three current 起球 items"
    );
    let (status, refused) = server.get("/api/v1/search/export?tag=logistics.speed&limit=10");
    assert_eq!(
        (status, refused["error"]["field"].as_str()),
        (400, Some("limit"))
    );
    let (status, refused) = server.get("/api/v1/search/export?format=xlsx");
    assert_eq!(
        (status, refused["error"]["field"].as_str()),
        (400, Some("format"))
    );
}

/// One request exactly as written (reqwest would normalise `..` away).
fn raw_get(base: &str, path: &str) -> (u16, String) {
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

#[test]
fn the_ui_is_served_with_security_headers_and_cannot_be_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dashboards = dashboards_dir(dir.path());
    let server = Server::start(
        &dir.path().join("data"),
        &[(
            "XINSHENG_DASHBOARDS_DIR",
            dashboards.to_str().expect("utf-8 path"),
        )],
        &[],
    );
    let response = server
        .client
        .get(format!("{}/", server.base))
        .send()
        .expect("GET /");
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"
    );
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(response
        .text()
        .expect("body")
        .contains("<title>心声</title>"));

    let response = server
        .client
        .get(format!("{}/static/js/app.js", server.base))
        .send()
        .expect("js");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        response.text().expect("body"),
        "export const ready = true;\n"
    );

    let missing = server
        .client
        .get(format!("{}/static/js/missing.js", server.base))
        .send()
        .expect("404");
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(
        missing.headers()["x-frame-options"],
        "DENY",
        "error answers carry the headers too"
    );

    for path in [
        "/static/../secret.txt",
        "/static/../../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/%2e%2e%2fsecret.txt",
        "/static/js/..%2f..%2fsecret.txt",
        "/static/..%5csecret.txt",
        "/static//etc/passwd",
        "/static/.%2e/boards/issues.toml",
    ] {
        let (status, answer) = raw_get(&server.base, path);
        assert!(status == 404 || status == 400, "{path}: {status}");
        assert!(
            !answer.contains("outside the web directory") && !answer.contains("[[widgets]]"),
            "{path}: {answer}"
        );
    }
    // API answers are not UI answers: no CSP on JSON.
    let response = server
        .client
        .get(format!("{}/api/v1/boards", server.base))
        .send()
        .expect("boards");
    assert!(response.headers().get("content-security-policy").is_none());
}

#[test]
fn a_bad_board_file_stops_the_start_naming_file_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dashboards = dashboards_dir(dir.path());
    let product = dashboards.join("boards/product.toml");
    let text = std::fs::read_to_string(&product).expect("product board");
    assert!(text.contains("type = \"heatmap\""));
    std::fs::write(
        &product,
        text.replacen("type = \"heatmap\"", "type = \"heatmapp\"", 1),
    )
    .expect("break it");

    let mut child = crate::server::binary()
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("XINSHENG_DASHBOARDS_DIR", &dashboards)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the service started with a bad board file");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    assert!(!status.success());
    let expected = format!(
        "{}: widgets[1].type: unknown widget type \"heatmapp\"; expected one of kpi_tiles,",
        product.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}
