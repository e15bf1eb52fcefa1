//! Latency histograms as stored in results: HdrHistogram's V2 format, deflated, then standard
//! base64 (RFC 4648, padded), so one histogram is one JSON string starting with `HISTF`. The
//! same encoding the load generator's `--json` output uses; any HdrHistogram library reads it.
//!
//! A results file is input like any other: a 52-byte string can claim a 4 GiB payload, which
//! the HdrHistogram deserializer would allocate before reading it. So [`decode`] inflates at
//! most [`MAX_INFLATED_BYTES`] itself and checks the V2 header first:
//! 1. the deflated blob inflates to at most 1 MiB (ours take a few KiB);
//! 2. the header's payload length matches what was inflated;
//! 3. at most [`MAX_SIGNIFICANT_DIGITS`] significant digits and a highest trackable value of
//!    at most [`MAX_HIGHEST_TRACKABLE`], which bounds the counts array the histogram allocates
//!    (at most about 3.2 million counters, 25 MiB; ours: 3 digits up to one hour in
//!    microseconds, 23,552 counters).

use std::io::Read;

use base64::Engine as _;
use flate2::read::ZlibDecoder;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

/// Largest inflated V2 histogram accepted: 1 MiB.
pub const MAX_INFLATED_BYTES: usize = 1 << 20;
/// Most significant digits accepted (HdrHistogram's own limit).
pub const MAX_SIGNIFICANT_DIGITS: u32 = 5;
/// Largest highest-trackable value accepted: 2^40 (12.7 days in microseconds).
pub const MAX_HIGHEST_TRACKABLE: u64 = 1 << 40;

/// HdrHistogram's V2 cookie, and that of its deflated form (each with word size 8).
const V2_COOKIE: u32 = 0x1c84_9313;
const V2_DEFLATE_COOKIE: u32 = 0x1c84_9314;
/// Cookie, payload length, normalizing offset, digits, lowest, highest, ratio.
const V2_HEADER_BYTES: usize = 40;

/// Encodes a histogram for a results file.
pub fn encode(histogram: &Histogram<u64>) -> Result<String, String> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(histogram, &mut bytes)
        .map_err(|e| format!("cannot serialize a latency histogram: {e:?}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Decodes what [`encode`] wrote, within the bounds of the module doc; the error says what is
/// wrong in one line.
pub fn decode(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("latency histogram is not valid base64 ({e})"))?;
    let inflated = inflate(&bytes)?;
    check_header(&inflated)?;
    Deserializer::new()
        .deserialize(&mut inflated.as_slice())
        .map_err(|e| format!("latency histogram is not an HdrHistogram V2 blob ({e:?})"))
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// The V2 blob inside a deflated one, refused past [`MAX_INFLATED_BYTES`].
fn inflate(bytes: &[u8]) -> Result<Vec<u8>, String> {
    if be_u32(bytes, 0) != Some(V2_DEFLATE_COOKIE) {
        return Err("latency histogram is not a deflated HdrHistogram V2 blob".into());
    }
    let length = be_u32(bytes, 4).unwrap_or(0) as usize;
    let deflated = &bytes[8.min(bytes.len())..];
    let deflated = &deflated[..length.min(deflated.len())];
    let mut inflated = Vec::new();
    ZlibDecoder::new(deflated)
        .take(MAX_INFLATED_BYTES as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| format!("latency histogram does not inflate ({e})"))?;
    if inflated.len() > MAX_INFLATED_BYTES {
        return Err(format!(
            "latency histogram inflates to more than {MAX_INFLATED_BYTES} bytes (1 MiB), the \
             most accepted; it was not written by looplab"
        ));
    }
    Ok(inflated)
}

/// Checks the V2 header's sizes against the module's bounds before anything is allocated.
fn check_header(v2: &[u8]) -> Result<(), String> {
    let bad = |what: String| Err(format!("latency histogram header: {what}"));
    if v2.len() < V2_HEADER_BYTES || be_u32(v2, 0) != Some(V2_COOKIE) {
        return bad("not an HdrHistogram V2 header".into());
    }
    let payload = be_u32(v2, 4).unwrap_or(u32::MAX) as usize;
    if payload != v2.len() - V2_HEADER_BYTES {
        return bad(format!(
            "claims {payload} bytes of counts but holds {}",
            v2.len() - V2_HEADER_BYTES
        ));
    }
    let digits = be_u32(v2, 12).unwrap_or(u32::MAX);
    if digits > MAX_SIGNIFICANT_DIGITS {
        return bad(format!(
            "{digits} significant digits, more than the {MAX_SIGNIFICANT_DIGITS} accepted"
        ));
    }
    let highest = be_u64(v2, 24).unwrap_or(u64::MAX);
    if highest > MAX_HIGHEST_TRACKABLE {
        return bad(format!(
            "highest trackable value {highest} is above the {MAX_HIGHEST_TRACKABLE} accepted"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in [5u64, 50, 500, 5_000, 50_000] {
            h.record(v).unwrap();
        }
        let text = encode(&h).unwrap();
        assert!(text.starts_with("HISTF"), "{text}");
        let back = decode(&text).unwrap();
        assert_eq!(back.len(), 5);
        assert_eq!(back.max(), h.max());
        assert_eq!(back.value_at_quantile(0.5), h.value_at_quantile(0.5));
        assert!(decode("not base64!").unwrap_err().contains("base64"));
        assert!(decode("aGVsbG8=").unwrap_err().contains("HdrHistogram"));
    }

    /// A deflated V2 blob with the given header fields and `counts` as its payload.
    fn forged(payload_len: u32, digits: u32, highest: u64, counts: &[u8]) -> String {
        use std::io::Write;
        let mut v2 = Vec::new();
        v2.extend(V2_COOKIE.to_be_bytes());
        v2.extend(payload_len.to_be_bytes());
        v2.extend(0u32.to_be_bytes());
        v2.extend(digits.to_be_bytes());
        v2.extend(1u64.to_be_bytes());
        v2.extend(highest.to_be_bytes());
        v2.extend(1.0f64.to_be_bytes());
        v2.extend(counts);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&v2).unwrap();
        let deflated = z.finish().unwrap();
        let mut blob = V2_DEFLATE_COOKIE.to_be_bytes().to_vec();
        blob.extend((deflated.len() as u32).to_be_bytes());
        blob.extend(deflated);
        base64::engine::general_purpose::STANDARD.encode(blob)
    }

    #[test]
    fn forged_sizes_are_refused_before_allocating() {
        // Before: this 52-byte string made the deserializer allocate 4 GiB.
        let four_gib = forged(u32::MAX, 3, 3_600_000_000, &[]);
        assert_eq!(four_gib.len(), 52, "{four_gib}");
        let e = decode(&four_gib).unwrap_err();
        assert!(
            e.contains("claims 4294967295 bytes of counts but holds 0"),
            "{e}"
        );
        let e = decode(&forged(0, 3, u64::MAX, &[])).unwrap_err();
        assert!(e.contains("highest trackable value"), "{e}");
        let e = decode(&forged(0, 9, 1000, &[])).unwrap_err();
        assert!(e.contains("9 significant digits"), "{e}");
        let zeros = vec![0u8; MAX_INFLATED_BYTES];
        let e = decode(&forged(zeros.len() as u32, 3, 1000, &zeros)).unwrap_err();
        assert!(e.contains("more than 1048576 bytes"), "{e}");
    }
}
