//! The tus 1.0.0 resumable upload protocol (core, creation, termination,
//! checksum, expiration) as headers: parsing what a client sends and the
//! names and values a server answers with. No I/O and no store here; the
//! routes in `http::uploads` use it, and it can be read and tested alone.

use crate::domain::Millis;
use crate::error::ApiError;
use axum::http::{header, HeaderMap, HeaderName};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The only protocol version spoken.
pub const VERSION: &str = "1.0.0";
pub const EXTENSIONS: &str = "creation,termination,checksum,expiration";
pub const CHECKSUM_ALGORITHMS: &str = "sha256,sha1";
/// The media type of every PATCH body.
pub const PATCH_MEDIA_TYPE: &str = "application/offset+octet-stream";

pub const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
pub const TUS_VERSION: HeaderName = HeaderName::from_static("tus-version");
pub const TUS_EXTENSION: HeaderName = HeaderName::from_static("tus-extension");
pub const TUS_MAX_SIZE: HeaderName = HeaderName::from_static("tus-max-size");
pub const TUS_CHECKSUM_ALGORITHM: HeaderName = HeaderName::from_static("tus-checksum-algorithm");
pub const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
pub const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
pub const UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
pub const UPLOAD_CHECKSUM: HeaderName = HeaderName::from_static("upload-checksum");
pub const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
pub const UPLOAD_DEFER_LENGTH: HeaderName = HeaderName::from_static("upload-defer-length");

/// Longest `Upload-Metadata` kept: it is echoed on every HEAD.
const METADATA_LIMIT: usize = 4096;

/// Every request but OPTIONS must name the version (412 otherwise).
pub fn require_version(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get(TUS_RESUMABLE) {
        Some(value) if value == VERSION => Ok(()),
        _ => Err(ApiError::TusVersionUnsupported),
    }
}

/// `Upload-Length` of a creation request. Deferring the length is not
/// offered: the upload limit is checked against it before a byte arrives.
pub fn upload_length(headers: &HeaderMap) -> Result<u64, ApiError> {
    if headers.contains_key(UPLOAD_DEFER_LENGTH) {
        return Err(ApiError::invalid_input("Upload-Defer-Length", "The upload's length must be given at creation."));
    }
    number(headers, &UPLOAD_LENGTH)?
        .ok_or_else(|| ApiError::invalid_input("Upload-Length", "The header Upload-Length is required."))
}

/// `Upload-Offset` of a PATCH.
pub fn upload_offset(headers: &HeaderMap) -> Result<u64, ApiError> {
    number(headers, &UPLOAD_OFFSET)?
        .ok_or_else(|| ApiError::invalid_input("Upload-Offset", "The header Upload-Offset is required."))
}

/// A PATCH body must be announced as `application/offset+octet-stream`.
pub fn require_patch_media_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let media_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or_default();
    let essence = media_type.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case(PATCH_MEDIA_TYPE) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!("A PATCH body must be {PATCH_MEDIA_TYPE}.")))
    }
}

/// A non-negative decimal header without sign or spaces, as tus requires.
fn number(headers: &HeaderMap, name: &HeaderName) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(name) else { return Ok(None) };
    let text = value.to_str().unwrap_or_default();
    let valid = !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<u64>() {
        Ok(number) if valid => Ok(Some(number)),
        _ => Err(ApiError::invalid_input(name.as_str(), format!("The header {name} must be a whole number of bytes."))),
    }
}

/// `Upload-Metadata`: comma-separated pairs of a key and a base64 value
/// (the value may be left out). Kept as sent, to be echoed on HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    raw: String,
    pairs: Vec<(String, Option<String>)>,
}

impl Metadata {
    pub fn parse(headers: &HeaderMap) -> Result<Self, ApiError> {
        let Some(value) = headers.get(UPLOAD_METADATA) else { return Ok(Self::default()) };
        let invalid = |message: &str| ApiError::invalid_input("Upload-Metadata", message);
        if value.len() > METADATA_LIMIT {
            return Err(invalid("The header Upload-Metadata is too long."));
        }
        let raw = value.to_str().map_err(|_| invalid("The header Upload-Metadata must be ASCII."))?;
        let mut pairs: Vec<(String, Option<String>)> = Vec::new();
        for pair in raw.split(',').map(str::trim).filter(|pair| !pair.is_empty()) {
            let (key, encoded) = match pair.split_once(' ') {
                Some((key, encoded)) => (key, Some(encoded.trim())),
                None => (pair, None),
            };
            if key.is_empty() || pairs.iter().any(|(seen, _)| seen == key) {
                return Err(invalid("Each key of Upload-Metadata must be given once."));
            }
            let value = match encoded {
                Some(encoded) => {
                    let bytes = BASE64.decode(encoded).map_err(|_| invalid("Upload-Metadata values must be base64."))?;
                    Some(String::from_utf8(bytes).map_err(|_| invalid("Upload-Metadata values must be UTF-8 text."))?)
                }
                None => None,
            };
            pairs.push((key.to_owned(), value));
        }
        Ok(Self { raw: raw.to_owned(), pairs })
    }

    /// The value of a key; a key given without a value reads as empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(name, _)| name == key).map(|(_, value)| value.as_deref().unwrap_or_default())
    }

    pub fn raw(&self) -> &str {
        &self.raw
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Sha256,
    Sha1,
}

/// `Upload-Checksum` of a PATCH: the algorithm and the digest the piece
/// must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algorithm: ChecksumAlgorithm,
    digest: Vec<u8>,
}

impl Checksum {
    pub fn parse(headers: &HeaderMap) -> Result<Option<Self>, ApiError> {
        let Some(value) = headers.get(UPLOAD_CHECKSUM) else { return Ok(None) };
        let invalid = || ApiError::invalid_input("Upload-Checksum", "Upload-Checksum must be `sha256 <base64>` or `sha1 <base64>`.");
        let (name, encoded) = value.to_str().ok().and_then(|text| text.split_once(' ')).ok_or_else(invalid)?;
        let algorithm = match name {
            "sha256" => ChecksumAlgorithm::Sha256,
            "sha1" => ChecksumAlgorithm::Sha1,
            _ => return Err(invalid()),
        };
        let digest = BASE64.decode(encoded.trim()).map_err(|_| invalid())?;
        Ok(Some(Self { algorithm, digest }))
    }

    pub fn hasher(&self) -> PieceHasher {
        match self.algorithm {
            ChecksumAlgorithm::Sha256 => PieceHasher::Sha256(Sha256::new()),
            ChecksumAlgorithm::Sha1 => PieceHasher::Sha1(Sha1::new()),
        }
    }

    /// Whether the piece hashed by `hasher` is the one announced.
    pub fn matches(&self, hasher: PieceHasher) -> bool {
        use subtle::ConstantTimeEq;
        let digest = match hasher {
            PieceHasher::Sha256(hasher) => hasher.finalize().to_vec(),
            PieceHasher::Sha1(hasher) => hasher.finalize().to_vec(),
        };
        digest.len() == self.digest.len() && bool::from(digest.as_slice().ct_eq(self.digest.as_slice()))
    }
}

/// The digest of a piece being received.
pub enum PieceHasher {
    Sha256(Sha256),
    Sha1(Sha1),
}

impl PieceHasher {
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha256(hasher) => hasher.update(bytes),
            Self::Sha1(hasher) => hasher.update(bytes),
        }
    }
}

/// `Upload-Expires` is an HTTP date (RFC 9110, IMF-fixdate).
pub fn http_date(at: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(at.0).unwrap_or_default().format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(HeaderName, &str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (name.clone(), HeaderValue::from_str(value).unwrap())).collect()
    }

    #[test]
    fn the_version_is_required_exactly() {
        assert!(require_version(&headers(&[(TUS_RESUMABLE, "1.0.0")])).is_ok());
        assert!(matches!(require_version(&headers(&[(TUS_RESUMABLE, "0.2.2")])), Err(ApiError::TusVersionUnsupported)));
        assert!(matches!(require_version(&HeaderMap::new()), Err(ApiError::TusVersionUnsupported)));
    }

    #[test]
    fn lengths_and_offsets_are_plain_numbers() {
        assert_eq!(upload_length(&headers(&[(UPLOAD_LENGTH, "2048")])).unwrap(), 2048);
        assert_eq!(upload_offset(&headers(&[(UPLOAD_OFFSET, "0")])).unwrap(), 0);
        for bad in ["-1", "+5", " 5", "1e3", "", "99999999999999999999999"] {
            assert!(upload_offset(&headers(&[(UPLOAD_OFFSET, bad)])).is_err(), "{bad:?}");
        }
        assert!(upload_length(&HeaderMap::new()).is_err());
        assert!(upload_length(&headers(&[(UPLOAD_DEFER_LENGTH, "1")])).is_err());
    }

    #[test]
    fn metadata_decodes_base64_values() {
        let parsed = Metadata::parse(&headers(&[(UPLOAD_METADATA, "filename d2FyZHMuY3N2,role ZmlsZQ==, is_confidential")]))
            .unwrap();
        assert_eq!(parsed.get("filename"), Some("wards.csv"));
        assert_eq!(parsed.get("role"), Some("file"));
        assert_eq!(parsed.get("is_confidential"), Some(""));
        assert_eq!(parsed.get("name"), None);
        assert_eq!(parsed.raw(), "filename d2FyZHMuY3N2,role ZmlsZQ==, is_confidential");
        for bad in ["filename !!!", "a YQ==,a Yg==", "filename /w=="] {
            assert!(Metadata::parse(&headers(&[(UPLOAD_METADATA, bad)])).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn checksums_verify_sha256_and_sha1() {
        // sha256("hello") and sha1("hello"), base64.
        let sha256 = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=";
        let sha1 = "qvTGHdzF6KLavt4PO0gs2a6pQ00=";
        for (name, digest) in [("sha256", sha256), ("sha1", sha1)] {
            let header = format!("{name} {digest}");
            let checksum = Checksum::parse(&headers(&[(UPLOAD_CHECKSUM, header.as_str())])).unwrap().unwrap();
            let mut hasher = checksum.hasher();
            hasher.update(b"hel");
            hasher.update(b"lo");
            assert!(checksum.matches(hasher), "{name}");
            let mut wrong = checksum.hasher();
            wrong.update(b"hello!");
            assert!(!checksum.matches(wrong), "{name}");
        }
        assert!(Checksum::parse(&headers(&[(UPLOAD_CHECKSUM, "md5 XUFAKrxLKna5cZ2REBfFkg==")])).is_err());
        assert!(Checksum::parse(&headers(&[(UPLOAD_CHECKSUM, "sha256")])).is_err());
        assert_eq!(Checksum::parse(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn patch_bodies_must_be_offset_octet_streams() {
        assert!(require_patch_media_type(&headers(&[(header::CONTENT_TYPE, "application/offset+octet-stream")])).is_ok());
        assert!(require_patch_media_type(&headers(&[(header::CONTENT_TYPE, "application/json")])).is_err());
        assert!(require_patch_media_type(&HeaderMap::new()).is_err());
    }

    #[test]
    fn expiry_is_an_http_date() {
        assert_eq!(http_date(Millis(1_700_000_000_000)), "Tue, 14 Nov 2023 22:13:20 GMT");
    }
}
