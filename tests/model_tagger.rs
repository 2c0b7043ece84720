//! The shipped models, loaded through ONNX Runtime exactly as the service
//! loads them, on fixed sentences: paraphrase, negation, mixed polarity,
//! sentiment, evidence. (`make test` fetches the runtime library first.)

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::Digest;
use xinsheng::feedback::{Analysis, Polarity};
use xinsheng::nlp::{Analyser, AnalyserError, TaggerChoice};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn model_choice(model_dir: PathBuf) -> TaggerChoice {
    TaggerChoice::Model {
        model_dir,
        onnxruntime_library: root().join(".onnxruntime/libonnxruntime.so"),
    }
}

fn analyser() -> &'static Analyser {
    static SHIPPED: OnceLock<Analyser> = OnceLock::new();
    SHIPPED.get_or_init(|| {
        Analyser::load(
            &root().join("lexicons"),
            &model_choice(root().join("models")),
        )
        .expect("shipped models load")
    })
}

fn has(analysis: &Analysis, tag: &str, polarity: &str) -> bool {
    analysis
        .tag_polarities()
        .iter()
        .any(|(t, p)| t == tag && *p == polarity)
}

#[test]
fn records_the_model_version() {
    let analysis = analyser().analyse("好评");
    assert!(
        analysis.analyser_version.starts_with("model:xs-")
            && analysis.analyser_version.contains(";lexicon:lex-"),
        "{}",
        analysis.analyser_version
    );
}

#[test]
fn mixed_review_gets_both_polarities_with_evidence() {
    let analysis = analyser().analyse("物流很快，但是衣服起球");
    assert!(
        has(&analysis, "logistics.speed", "pos"),
        "{:?}",
        analysis.tag_polarities()
    );
    assert!(
        has(&analysis, "product.material", "neg"),
        "{:?}",
        analysis.tag_polarities()
    );
    let material = analysis
        .tags
        .iter()
        .find(|tag| tag.tag == "product.material")
        .expect("material");
    assert_eq!(material.evidence.clause, "但是衣服起球");
    assert_eq!(material.evidence.text, "起球");
    assert_eq!(material.library, "product");
}

#[test]
fn negation_gives_a_complaint() {
    let analysis = analyser().analyse("物流一点都不快，等了一个星期");
    assert!(
        has(&analysis, "logistics.speed", "neg"),
        "{:?}",
        analysis.tag_polarities()
    );
    assert_eq!(analysis.sentiment, Polarity::Neg);
}

#[test]
fn taste_praise_and_portion_complaint() {
    let analysis = analyser().analyse("味道很不错，就是分量太少了");
    assert!(
        has(&analysis, "product.taste_smell", "pos"),
        "{:?}",
        analysis.tag_polarities()
    );
    assert!(
        has(&analysis, "product.quantity", "neg"),
        "{:?}",
        analysis.tag_polarities()
    );
}

#[test]
fn quality_complaint_and_sentiment() {
    let analysis = analyser().analyse("质量太差了，用了两天就坏了，再也不买了");
    assert!(
        has(&analysis, "product.quality", "neg"),
        "{:?}",
        analysis.tag_polarities()
    );
    assert_eq!(analysis.sentiment, Polarity::Neg);
    assert!(analysis.sentiment_score < 0.0);
}

#[test]
fn generic_praise_is_positive_without_tags() {
    let analysis = analyser().analyse("非常满意，下次还会再来光顾");
    assert_eq!(analysis.sentiment, Polarity::Pos);
    assert!(analysis.tags.is_empty(), "{:?}", analysis.tag_polarities());
}

#[test]
fn every_tag_has_evidence_inside_its_clause() {
    let batch: Vec<_> = [
        "快递员态度很差，还不送上门",
        "屏幕很清晰，电池也耐用，就是有点发烫",
        "尺码偏小，建议买大一号",
        "",
    ]
    .iter()
    .map(|text| xinsheng::nlp::AnalysisInput {
        text,
        rating: None,
        reason_code: None,
    })
    .collect();
    let analyses = analyser().analyse_batch(&batch);
    // Each non-empty text names an aspect, so the check below has tags to check.
    for (text, analysis) in batch.iter().zip(&analyses) {
        assert_eq!(
            analysis.tags.is_empty(),
            text.text.is_empty(),
            "{}: {:?}",
            text.text,
            analysis.tag_polarities()
        );
        let chars: Vec<char> = analysis.normalised_text.chars().collect();
        for tag in &analysis.tags {
            let [clause_start, clause_end] = tag.evidence.clause_span;
            let [start, end] = tag.evidence.span;
            assert!(
                clause_start <= start && start < end && end <= clause_end,
                "{tag:?}"
            );
            let evidence: String = chars[start..end].iter().collect();
            assert_eq!(evidence, tag.evidence.text);
        }
    }
}

#[test]
fn missing_or_corrupt_model_files_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `shipped` from the shipped models, under the name `as_file`.
    let copy = |shipped: &str, as_file: &str| {
        std::fs::copy(
            root().join("models").join(shipped),
            dir.path().join(as_file),
        )
        .expect("copy");
    };
    let refused = |what: &str| {
        Analyser::load(&root().join("lexicons"), &model_choice(dir.path().into()))
            .err()
            .expect(what)
    };
    for file in [
        "model.json",
        "tokenizer.json",
        "sentiment.onnx",
        "sentiment.keys",
        "tagger.onnx",
        "tagger.keys",
        "polarity.onnx",
    ] {
        copy(file, file);
    }
    std::fs::write(dir.path().join("tagger.onnx"), b"not a model").expect("write");
    let error = refused("corrupt model refused");
    assert!(matches!(error, AnalyserError::Model(_)));
    assert!(error.to_string().contains("tagger.onnx"), "{error}");

    // Keys that are not the model's own (here the other model's) are refused.
    copy("tagger.onnx", "tagger.onnx");
    copy("sentiment.keys", "tagger.keys");
    let error = refused("mismatched keys refused");
    assert!(error.to_string().contains("tagger.keys"), "{error}");

    // A polarity graph exported with other keys than the tagger's is
    // refused: the shipped graph with the sentiment keys' digest recorded in
    // place of the tagger's (same length, so the file stays a valid model).
    copy("tagger.keys", "tagger.keys");
    let digest = |file: &str| {
        let bytes = std::fs::read(root().join("models").join(file)).expect("keys");
        hex::encode(sha2::Sha256::digest(bytes))
    };
    let (own, foreign) = (digest("tagger.keys"), digest("sentiment.keys"));
    let graph = std::fs::read(root().join("models/polarity.onnx")).expect("graph");
    let at = graph
        .windows(own.len())
        .position(|window| window == own.as_bytes())
        .expect("the polarity graph records the tagger keys' digest");
    let mut relabelled = graph.clone();
    relabelled[at..at + own.len()].copy_from_slice(foreign.as_bytes());
    std::fs::write(dir.path().join("polarity.onnx"), relabelled).expect("write");
    let error = refused("a polarity graph of other keys refused");
    assert!(error.to_string().contains("polarity.onnx"), "{error}");
    assert!(error.to_string().contains("other keys"), "{error}");
    copy("polarity.onnx", "polarity.onnx");

    std::fs::remove_file(dir.path().join("sentiment.onnx")).expect("remove");
    let error = refused("missing model refused");
    assert!(error.to_string().contains("sentiment.onnx"), "{error}");
}

#[test]
fn a_deployments_own_tag_keeps_the_rules_verdict() {
    let lexicon = tempfile::tempdir().expect("tempdir");
    copy_dir(&root().join("lexicons"), lexicon.path());
    std::fs::write(
        lexicon.path().join("tags/brand.toml"),
        r#"[[tag]]
id = "brand.membership"
name = "会员"
aspects = ["会员卡"]
aspect_positive = []
aspect_negative = []
aspect_neutral = []
positive = []
negative = ["会员卡用不了"]
neutral = []
exclude = []
"#,
    )
    .expect("write tag");
    let analyser = Analyser::load(lexicon.path(), &model_choice(root().join("models")))
        .expect("lexicon with an extra tag loads");
    let analysis = analyser.analyse("会员卡用不了，物流倒是很快");
    assert!(
        has(&analysis, "brand.membership", "neg"),
        "{:?}",
        analysis.tag_polarities()
    );
    assert!(
        has(&analysis, "logistics.speed", "pos"),
        "{:?}",
        analysis.tag_polarities()
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}
