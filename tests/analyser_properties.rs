//! Property test of the whole analysis pipeline: any text analyses without
//! panicking, and every tag's evidence lies inside its clause and the text.
//! (Kept out of the unit tests: inside the lib's test binary the same
//! property ran ~300 ms per case for reasons not yet understood, while here
//! it takes microseconds per case, as in production.)

use std::sync::OnceLock;

use proptest::prelude::*;
use xinsheng::nlp::{Analyser, TaggerChoice};

/// The shipped lexicon and models, as the service runs them.
fn analyser() -> &'static Analyser {
    static SHIPPED: OnceLock<Analyser> = OnceLock::new();
    SHIPPED.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        Analyser::load(
            &root.join("lexicons"),
            &TaggerChoice::Model {
                model_dir: root.join("models"),
                onnxruntime_library: root.join(".onnxruntime/libonnxruntime.so"),
            },
        )
        .expect("shipped lexicon and models (run `make onnxruntime` first)")
    })
}

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("物流".to_string()),
        Just("很快".to_string()),
        Just("但是".to_string()),
        Just("不".to_string()),
        Just("起球".to_string()),
        Just("质量差".to_string()),
        Just("，".to_string()),
        any::<char>().prop_map(|c| c.to_string()),
    ]
}

proptest! {
    #[test]
    fn evidence_lies_inside_clause_and_text(parts in proptest::collection::vec(fragment(), 0..24)) {
        let analysis = analyser().analyse(&parts.concat());
        let length = analysis.normalised_text.chars().count();
        for tag in &analysis.tags {
            let [clause_start, clause_end] = tag.evidence.clause_span;
            let [start, end] = tag.evidence.span;
            prop_assert!(clause_start <= start && start < end && end <= clause_end && clause_end <= length);
            let span_text: String = analysis.normalised_text.chars().skip(start).take(end - start).collect();
            prop_assert_eq!(&span_text, &tag.evidence.text);
            prop_assert!((0.0..=1.0).contains(&tag.score));
        }
    }
}
