//! `Content-Encoding` of callback bodies: `gzip` (also `x-gzip`) and `deflate` (zlib, or raw
//! deflate as some senders send it) are decoded, under the same size bound as the body itself,
//! so a small compressed body cannot expand past `server.max_body_bytes`. Any other coding, or
//! more than one, is refused before the body is read.

use std::io::Read;

use axum::http::{HeaderMap, header};
use bytes::Bytes;
use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};

/// The codings the gateway decodes, as an `Accept-Encoding` value for a `415`.
pub(super) const ACCEPTED: &str = "gzip, deflate";

/// How a callback body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Coding {
    Identity,
    Gzip,
    Deflate,
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DecodeError {
    /// Decoded, it would exceed the size bound.
    TooLarge,
    /// Not valid data of its coding.
    Corrupt,
}

/// The coding the `Content-Encoding` headers name; `None` when the gateway does not decode it.
pub(super) fn coding(headers: &HeaderMap) -> Option<Coding> {
    let mut named = Vec::new();
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let value = value.to_str().ok()?;
        for token in value.split(',').map(str::trim) {
            if !(token.is_empty() || token.eq_ignore_ascii_case("identity")) {
                named.push(token.to_ascii_lowercase());
            }
        }
    }
    match named.as_slice() {
        [] => Some(Coding::Identity),
        [one] if one == "gzip" || one == "x-gzip" => Some(Coding::Gzip),
        [one] if one == "deflate" => Some(Coding::Deflate),
        _ => None,
    }
}

/// Decode `body`, reading at most `limit` decoded bytes.
pub(super) fn decode(coding: Coding, body: Bytes, limit: usize) -> Result<Bytes, DecodeError> {
    match coding {
        Coding::Identity => Ok(body),
        Coding::Gzip => read_bounded(MultiGzDecoder::new(&body[..]), limit),
        Coding::Deflate if is_zlib(&body) => read_bounded(ZlibDecoder::new(&body[..]), limit),
        Coding::Deflate => read_bounded(DeflateDecoder::new(&body[..]), limit),
    }
}

/// RFC 1950's two-byte header: deflate method, and a check over both bytes.
fn is_zlib(body: &[u8]) -> bool {
    matches!(body, [cmf, flg, ..] if cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0)
}

fn read_bounded(decoder: impl Read, limit: usize) -> Result<Bytes, DecodeError> {
    let mut out = Vec::new();
    decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| DecodeError::Corrupt)?;
    if out.len() > limit {
        return Err(DecodeError::TooLarge);
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use std::io::Write;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::CONTENT_ENCODING, HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    #[test]
    fn codings_are_read_from_every_header_value() {
        for (values, expected) in [
            (&[][..], Some(Coding::Identity)),
            (&["identity"], Some(Coding::Identity)),
            (&["GZIP"], Some(Coding::Gzip)),
            (&["x-gzip"], Some(Coding::Gzip)),
            (&["identity, deflate"], Some(Coding::Deflate)),
            (&["br"], None),
            (&["gzip, gzip"], None),
            (&["gzip", "deflate"], None),
        ] {
            assert_eq!(coding(&headers(values)), expected, "{values:?}");
        }
    }

    #[test]
    fn zlib_and_raw_deflate_both_decode() {
        let text = b"{\"name\":\"CS1\"}";
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        zlib.write_all(text).unwrap();
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        raw.write_all(text).unwrap();
        for encoded in [zlib.finish().unwrap(), raw.finish().unwrap()] {
            let decoded = decode(Coding::Deflate, Bytes::from(encoded), 100).unwrap();
            assert_eq!(&decoded[..], text);
        }
    }

    #[test]
    fn the_bound_applies_to_the_decoded_size() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&[b'a'; 1001]).unwrap();
        let gz = Bytes::from(gz.finish().unwrap());
        assert_eq!(
            decode(Coding::Gzip, gz.clone(), 1000),
            Err(DecodeError::TooLarge)
        );
        assert_eq!(decode(Coding::Gzip, gz, 1001).unwrap().len(), 1001);
        assert_eq!(
            decode(Coding::Gzip, Bytes::from_static(b"\x1f\x8bnot gzip"), 1000),
            Err(DecodeError::Corrupt)
        );
    }
}
