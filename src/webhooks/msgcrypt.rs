//! The "WXBizMsgCrypt" scheme that WeCom (企业微信) and DingTalk (钉钉) event
//! subscriptions share.
//!
//! * `msg_signature = hex(SHA1(concat(sort([token, timestamp, nonce, encrypt]))))`
//! * key = base64(EncodingAESKey + "="), 32 bytes; IV = the key's first 16 bytes;
//!   AES-256-CBC with PKCS#7 padding to a multiple of **32** bytes.
//! * plaintext = 16 random bytes ‖ u32 big-endian length ‖ message ‖ receiver id
//!   (WeCom: corp id; DingTalk: suite key / app key / corp id).

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use sha1::{Digest, Sha1};

use super::{ct_eq, WebhookError};

type Encryptor = cbc::Encryptor<aes::Aes256>;
type Decryptor = cbc::Decryptor<aes::Aes256>;

/// The scheme pads to 32 bytes, not the AES block size.
const PAD_BLOCK: usize = 32;
const RANDOM_LEN: usize = 16;
const HEADER_LEN: usize = RANDOM_LEN + 4;

/// The official SDKs decode with lenient decoders (Java commons-codec, Python
/// `base64`), and a random 43-character EncodingAESKey usually has non-zero
/// bits after its last full byte, which the strict standard engine rejects.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `hex(SHA1(concat(sort([token, timestamp, nonce, encrypt]))))`.
pub fn signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    let mut parts = [token, timestamp, nonce, encrypt];
    parts.sort_unstable();
    let mut hasher = Sha1::new();
    for part in parts {
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

#[derive(Clone)]
pub struct MsgCrypt {
    token: String,
    key: [u8; 32],
    receiver_id: String,
}

impl std::fmt::Debug for MsgCrypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsgCrypt")
            .field("receiver_id", &self.receiver_id)
            .finish_non_exhaustive()
    }
}

impl MsgCrypt {
    /// `BadConfig` unless `encoding_aes_key` is 43 base64 characters.
    pub fn new(
        token: &str,
        encoding_aes_key: &str,
        receiver_id: &str,
    ) -> Result<MsgCrypt, WebhookError> {
        let bad = || WebhookError::BadConfig("EncodingAESKey must be 43 base64 characters".into());
        if encoding_aes_key.len() != 43 {
            return Err(bad());
        }
        let key = LENIENT_BASE64
            .decode(format!("{encoding_aes_key}="))
            .map_err(|_| bad())?
            .try_into()
            .map_err(|_| bad())?;
        Ok(MsgCrypt {
            token: token.to_string(),
            key,
            receiver_id: receiver_id.to_string(),
        })
    }

    pub fn receiver_id(&self) -> &str {
        &self.receiver_id
    }

    pub fn signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        signature(&self.token, timestamp, nonce, encrypt)
    }

    pub fn verify(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<(), WebhookError> {
        let expected = self.signature(timestamp, nonce, encrypt);
        // Some senders upper-case the hex; the digest itself is what counts.
        let got = msg_signature.trim().to_ascii_lowercase();
        if ct_eq(expected.as_bytes(), got.as_bytes()) {
            Ok(())
        } else {
            Err(WebhookError::BadSignature)
        }
    }

    /// Encrypts `message` with fresh random bytes; returns the base64 `encrypt` field.
    pub fn encrypt(&self, message: &[u8]) -> String {
        self.encrypt_with_random(rand::random(), message)
    }

    /// [`encrypt`](Self::encrypt) with the 16 random bytes given, for
    /// known-answer tests.
    pub fn encrypt_with_random(&self, random: [u8; RANDOM_LEN], message: &[u8]) -> String {
        let mut plain =
            Vec::with_capacity(HEADER_LEN + message.len() + self.receiver_id.len() + PAD_BLOCK);
        plain.extend_from_slice(&random);
        // Messages over 4 GiB cannot be framed; the platforms cap far lower.
        plain.extend_from_slice(&(message.len() as u32).to_be_bytes());
        plain.extend_from_slice(message);
        plain.extend_from_slice(self.receiver_id.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        plain.resize(plain.len() + pad, pad as u8);
        let cipher = Encryptor::new(&self.key.into(), &self.iv().into())
            .encrypt_padded_vec_mut::<NoPadding>(&plain);
        LENIENT_BASE64.encode(cipher)
    }

    /// Decrypts an `encrypt` field and checks it is addressed to this
    /// receiver. Verify the signature first (see [`open`](Self::open)).
    pub fn decrypt(&self, encrypt: &str) -> Result<Vec<u8>, WebhookError> {
        let cipher = LENIENT_BASE64
            .decode(encrypt.trim())
            .map_err(|error| WebhookError::Malformed(format!("encrypt is not base64: {error}")))?;
        if cipher.is_empty() || cipher.len() % 16 != 0 {
            return Err(WebhookError::Decrypt(format!(
                "ciphertext length {} is not a positive multiple of 16",
                cipher.len()
            )));
        }
        let mut plain = Decryptor::new(&self.key.into(), &self.iv().into())
            .decrypt_padded_vec_mut::<NoPadding>(&cipher)
            .map_err(|_| WebhookError::Decrypt("ciphertext is not whole blocks".into()))?;

        let pad = plain.last().copied().map_or(0, usize::from);
        if !(1..=PAD_BLOCK).contains(&pad)
            || pad > plain.len()
            || plain[plain.len() - pad..]
                .iter()
                .any(|&b| usize::from(b) != pad)
        {
            return Err(WebhookError::Decrypt("bad padding (wrong key?)".into()));
        }
        plain.truncate(plain.len() - pad);

        let length_bytes: [u8; 4] = plain
            .get(RANDOM_LEN..HEADER_LEN)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| WebhookError::Decrypt("plaintext shorter than its header".into()))?;
        let end = usize::try_from(u32::from_be_bytes(length_bytes))
            .ok()
            .and_then(|length| HEADER_LEN.checked_add(length))
            .filter(|&end| end <= plain.len())
            .ok_or_else(|| WebhookError::Decrypt("message length exceeds plaintext".into()))?;
        if !ct_eq(&plain[end..], self.receiver_id.as_bytes()) {
            return Err(WebhookError::WrongReceiver);
        }
        plain.truncate(end);
        plain.drain(..HEADER_LEN);
        Ok(plain)
    }

    /// Verifies `msg_signature` over `encrypt`, then decrypts it.
    pub fn open(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<Vec<u8>, WebhookError> {
        self.verify(msg_signature, timestamp, nonce, encrypt)?;
        self.decrypt(encrypt)
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // From the WeChat official-account WXBizMsgCrypt Java test (WXBizMsgCryptTest).
    const MP_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const MP_APPID: &str = "wxb11529c136998cb6";

    fn crypt() -> MsgCrypt {
        MsgCrypt::new("pamtest", MP_KEY, MP_APPID).unwrap()
    }

    #[test]
    fn official_known_answer() {
        let encrypted =
            crypt().encrypt_with_random(*b"aaaabbbbccccdddd", "我是中文abcd123".as_bytes());
        assert_eq!(
            encrypted,
            "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
        );
        assert_eq!(
            crypt().decrypt(&encrypted).unwrap(),
            "我是中文abcd123".as_bytes()
        );
    }

    #[test]
    fn signature_is_sha1_of_sorted_concatenation() {
        // Sorted by hand: "1409304348" < "encrypted" < "pamtest" < "xxxxxx".
        let expected = hex::encode(Sha1::digest(b"1409304348encryptedpamtestxxxxxx"));
        assert_eq!(
            signature("pamtest", "1409304348", "xxxxxx", "encrypted"),
            expected
        );
        assert!(crypt()
            .verify(
                &expected.to_uppercase(),
                "1409304348",
                "xxxxxx",
                "encrypted"
            )
            .is_ok());
        assert_eq!(
            crypt().verify(&expected, "1409304349", "xxxxxx", "encrypted"),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn round_trip_pads_to_32_bytes() {
        let crypt = crypt();
        for length in 0..100 {
            let message = vec![b'x'; length];
            let encrypted = crypt.encrypt(&message);
            let raw = LENIENT_BASE64.decode(&encrypted).unwrap();
            assert_eq!(raw.len() % 32, 0);
            assert_eq!(crypt.decrypt(&encrypted).unwrap(), message);
        }
        // Fresh random bytes each time.
        assert_ne!(crypt.encrypt(b"x"), crypt.encrypt(b"x"));
    }

    #[test]
    fn rejects_other_receiver() {
        let other = MsgCrypt::new("pamtest", MP_KEY, "wx_other").unwrap();
        let encrypted = other.encrypt(b"hello");
        assert_eq!(
            crypt().decrypt(&encrypted),
            Err(WebhookError::WrongReceiver)
        );
    }

    #[test]
    fn rejects_bad_input_without_panicking() {
        let crypt = crypt();
        assert!(matches!(
            crypt.decrypt("!!!"),
            Err(WebhookError::Malformed(_))
        ));
        assert!(matches!(crypt.decrypt(""), Err(WebhookError::Decrypt(_))));
        assert!(matches!(
            crypt.decrypt("AAAA"),
            Err(WebhookError::Decrypt(_))
        ));
        let other_key = MsgCrypt::new(
            "pamtest",
            "bbcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            MP_APPID,
        )
        .unwrap();
        assert!(matches!(
            crypt.decrypt(&other_key.encrypt(b"hello")),
            Err(WebhookError::Decrypt(_) | WebhookError::WrongReceiver)
        ));
    }

    #[test]
    fn rejects_bad_padding_and_lengths() {
        let crypt = crypt();
        let seal = |plain: &[u8]| {
            LENIENT_BASE64.encode(
                Encryptor::new(&crypt.key.into(), &crypt.iv().into())
                    .encrypt_padded_vec_mut::<NoPadding>(plain),
            )
        };
        // Pad byte 0 and 33 are outside 1..=32.
        assert!(matches!(
            crypt.decrypt(&seal(&[0; 32])),
            Err(WebhookError::Decrypt(_))
        ));
        assert!(matches!(
            crypt.decrypt(&seal(&[33; 64])),
            Err(WebhookError::Decrypt(_))
        ));
        // Valid padding, but the declared length runs past the end.
        let mut plain = vec![0u8; 16];
        plain.extend_from_slice(&u32::MAX.to_be_bytes());
        plain.resize(64, 44);
        assert!(matches!(
            crypt.decrypt(&seal(&plain)),
            Err(WebhookError::Decrypt(_))
        ));
        // Padding eats into the header.
        assert!(matches!(
            crypt.decrypt(&seal(&[16; 32])),
            Err(WebhookError::Decrypt(_))
        ));
    }

    #[test]
    fn rejects_bad_keys() {
        assert!(matches!(
            MsgCrypt::new("t", "short", "r"),
            Err(WebhookError::BadConfig(_))
        ));
        assert!(matches!(
            MsgCrypt::new("t", &"!".repeat(43), "r"),
            Err(WebhookError::BadConfig(_))
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn decrypt_never_panics_on_strings(input in ".*") {
            let _ = crypt().decrypt(&input);
        }

        #[test]
        fn decrypt_never_panics_on_raw_ciphertext(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = crypt().decrypt(&LENIENT_BASE64.encode(bytes));
        }

        #[test]
        fn decrypt_never_panics_on_arbitrary_plaintext(blocks in proptest::collection::vec(any::<[u8; 16]>(), 1..8)) {
            let crypt = crypt();
            let plain = blocks.concat();
            let sealed = LENIENT_BASE64.encode(
                Encryptor::new(&crypt.key.into(), &crypt.iv().into())
                    .encrypt_padded_vec_mut::<NoPadding>(&plain),
            );
            let _ = crypt.decrypt(&sealed);
        }

        #[test]
        fn round_trips_any_message(message in proptest::collection::vec(any::<u8>(), 0..300)) {
            let crypt = crypt();
            prop_assert_eq!(crypt.decrypt(&crypt.encrypt(&message)).unwrap(), message);
        }
    }

    /// Seals `plain` (whole blocks) with the test key, no padding added.
    fn seal(crypt: &MsgCrypt, plain: &[u8]) -> String {
        LENIENT_BASE64.encode(
            Encryptor::new(&crypt.key.into(), &crypt.iv().into())
                .encrypt_padded_vec_mut::<NoPadding>(plain),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Validly padded plaintexts with an arbitrary header, declared
        /// length and receiver: the declared length is honoured exactly when
        /// it fits and the receiver matches; everything else is an error.
        #[test]
        fn framing_with_any_declared_length_and_receiver(
            random in any::<[u8; 16]>(),
            declared in prop_oneof![0u32..64, any::<u32>()],
            body in proptest::collection::vec(any::<u8>(), 0..80),
            receiver in prop_oneof![Just(MP_APPID.to_string()), "[a-z0-9_]{0,20}"],
        ) {
            let crypt = crypt();
            let mut plain = random.to_vec();
            plain.extend_from_slice(&declared.to_be_bytes());
            plain.extend_from_slice(&body);
            plain.extend_from_slice(receiver.as_bytes());
            let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
            plain.resize(plain.len() + pad, pad as u8);
            let result = crypt.decrypt(&seal(&crypt, &plain));
            let declared = declared as usize;
            let fits = declared <= body.len() + receiver.len();
            if fits && body.len() == declared && receiver == MP_APPID {
                prop_assert_eq!(result, Ok(body));
            } else if let Ok(message) = result {
                // A different split of the same bytes can still end in the
                // receiver id; the message is then exactly the declared length.
                prop_assert!(fits);
                prop_assert_eq!(message.len(), declared);
            }
        }

        /// A genuine ciphertext cut short, cut off the block grid, extended,
        /// or with one bit flipped, and its base64 damaged: an error (or,
        /// for a flip in an early block that the checks cannot see, a
        /// message), never a panic.
        #[test]
        fn damaged_ciphertext_never_panics(
            message in proptest::collection::vec(any::<u8>(), 0..120),
            cut in any::<proptest::sample::Index>(),
            flip in any::<proptest::sample::Index>(),
            bit in 0u8..8,
            extra in proptest::collection::vec(any::<u8>(), 1..40),
            garbage in "[!#$%&*,.:;?@^_~-]{1,3}",
        ) {
            let crypt = crypt();
            let raw = LENIENT_BASE64.decode(crypt.encrypt(&message)).expect("base64");
            let truncated = &raw[..cut.index(raw.len())];
            let result = crypt.decrypt(&LENIENT_BASE64.encode(truncated));
            if truncated.len() % 16 != 0 || truncated.is_empty() {
                let is_decrypt_error = matches!(result, Err(WebhookError::Decrypt(_)));
                prop_assert!(is_decrypt_error);
            }
            let mut flipped = raw.clone();
            let position = flip.index(flipped.len());
            flipped[position] ^= 1 << bit;
            let _ = crypt.decrypt(&LENIENT_BASE64.encode(&flipped));
            let mut extended = raw.clone();
            extended.extend_from_slice(&extra);
            let _ = crypt.decrypt(&LENIENT_BASE64.encode(&extended));
            let encoded = LENIENT_BASE64.encode(&raw);
            let split = cut.index(encoded.len());
            let damaged = format!("{}{garbage}{}", &encoded[..split], &encoded[split..]);
            let is_malformed = matches!(crypt.decrypt(&damaged), Err(WebhookError::Malformed(_)));
            prop_assert!(is_malformed);
        }

        /// Any EncodingAESKey string: a working crypt only for 43 base64
        /// characters, a configuration error otherwise.
        #[test]
        fn any_key_string_is_accepted_or_refused_cleanly(key in "(\\PC|[A-Za-z0-9+/=]){0,60}") {
            match MsgCrypt::new("t", &key, "r") {
                Ok(crypt) => {
                    prop_assert_eq!(key.len(), 43);
                    prop_assert_eq!(crypt.decrypt(&crypt.encrypt(b"x")), Ok(b"x".to_vec()));
                }
                Err(error) => {
                    let is_bad_config = matches!(error, WebhookError::BadConfig(_));
                    prop_assert!(is_bad_config);
                }
            }
        }
    }
}
