//! The tantivy schema, in one place. Field names are constants: queries,
//! collectors and the writer refer to these, never to string literals.

use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, SchemaBuilder, TextFieldIndexing,
    TextOptions, FAST, INDEXED, STORED, STRING,
};

use crate::nlp::segment::TOKENIZER_NAME;

pub const ID: &str = "id";
pub const TEXT: &str = "text";
/// What agents and the system said in a chat or call: searchable, not tagged.
pub const CONTEXT: &str = "context";
pub const SOURCE: &str = "source";
pub const CHANNEL: &str = "channel";
pub const SKU: &str = "sku";
pub const CATEGORY: &str = "category";
pub const PRODUCT_NAME: &str = "product_name";
pub const CONSUMER_ID: &str = "consumer_id";
pub const STORE: &str = "store";
pub const EXTERNAL_ID: &str = "external_id";
pub const CREATED_AT: &str = "created_at";
pub const RATING: &str = "rating";
pub const SENTIMENT: &str = "sentiment";
pub const LANGUAGE: &str = "language";
/// Multi-valued: every tag of the item ("product.material").
pub const TAG: &str = "tag";
/// Multi-valued: the libraries of the item's tags ("product").
pub const LIBRARY: &str = "library";
/// Multi-valued: the polarities of the item's tags ("neg").
pub const POLARITY: &str = "polarity";
/// Multi-valued: tag with its polarity ("product.material:neg"), so that a
/// tag filter with a polarity matches the same mention, not any two.
pub const TAG_POLARITY: &str = "tag_polarity";
/// Multi-valued: library with polarity ("product:neg").
pub const LIBRARY_POLARITY: &str = "library_polarity";
pub const KEYWORD: &str = "keyword";
/// A refund's menu reason.
pub const REASON_CODE: &str = "reason_code";
/// Multi-valued, refunds only: reason with each negative tag
/// ("尺码不合适|product.size_fit"), for the refund-reasons-by-tag board.
pub const REASON_TAG: &str = "reason_tag";
/// Stored only: the item's tag mentions with their evidence, as JSON
/// (`feedback::TagMention`), so that search hits can underline evidence
/// without a database read per hit.
pub const TAG_MENTIONS: &str = "tag_mentions";

/// Raw (untokenised) string fields that can be filtered on and counted.
pub const KEYWORD_FIELDS: [&str; 18] = [
    SOURCE,
    CHANNEL,
    SKU,
    CATEGORY,
    PRODUCT_NAME,
    CONSUMER_ID,
    STORE,
    EXTERNAL_ID,
    SENTIMENT,
    LANGUAGE,
    TAG,
    LIBRARY,
    POLARITY,
    TAG_POLARITY,
    LIBRARY_POLARITY,
    KEYWORD,
    REASON_CODE,
    REASON_TAG,
];

pub fn build() -> Schema {
    let mut builder = SchemaBuilder::new();
    builder.add_u64_field(ID, INDEXED | STORED | FAST);
    let text_options = TextOptions::default().set_stored().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER_NAME)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    builder.add_text_field(TEXT, text_options.clone());
    builder.add_text_field(CONTEXT, text_options);
    for name in KEYWORD_FIELDS {
        builder.add_text_field(name, STRING | FAST | STORED);
    }
    builder.add_i64_field(
        CREATED_AT,
        NumericOptions::default()
            .set_indexed()
            .set_fast()
            .set_stored(),
    );
    builder.add_u64_field(RATING, STORED | FAST);
    builder.add_text_field(TAG_MENTIONS, STORED);
    builder.build()
}

/// Resolved field handles, looked up once.
#[derive(Debug, Clone)]
pub struct Fields {
    pub id: Field,
    pub text: Field,
    pub context: Field,
    pub created_at: Field,
    pub rating: Field,
    pub tag_mentions: Field,
}

impl Fields {
    pub fn resolve(schema: &Schema) -> tantivy::Result<Fields> {
        Ok(Fields {
            id: schema.get_field(ID)?,
            text: schema.get_field(TEXT)?,
            context: schema.get_field(CONTEXT)?,
            created_at: schema.get_field(CREATED_AT)?,
            rating: schema.get_field(RATING)?,
            tag_mentions: schema.get_field(TAG_MENTIONS)?,
        })
    }
}
