//! Redis's intset (`RDB_TYPE_SET_INTSET`): a set of integers, sorted, all of one width.
//!
//! ```text
//! encoding (u32 LE: 2, 4 or 8) | length (u32 LE) | length × integer (LE, signed)
//! ```

use super::reader::{corrupt, Result};

/// Calls `f` with each integer of `blob`, in order.
///
/// # Errors
/// A corrupt-file error when `blob` is not a whole intset.
pub(super) fn for_each(blob: &[u8], mut f: impl FnMut(i64) -> Result<()>) -> Result<()> {
    let Some((head, body)) = blob.split_first_chunk::<8>() else {
        return corrupt("an intset shorter than its header");
    };
    let width = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
    if !matches!(width, 2 | 4 | 8) || len.checked_mul(width) != Some(body.len()) {
        return corrupt("an intset whose length does not match its bytes");
    }
    let mut last = None;
    for chunk in body.chunks_exact(width) {
        let n = match width {
            2 => i64::from(i16::from_le_bytes([chunk[0], chunk[1]])),
            4 => i64::from(i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]])),
            _ => i64::from_le_bytes(chunk.try_into().unwrap_or_default()),
        };
        // Sorted and distinct, as Redis's `intsetValidateIntegrity` insists.
        if last.is_some_and(|l| l >= n) {
            return corrupt("an intset out of order");
        }
        last = Some(n);
        f(n)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(blob: &[u8]) -> Result<Vec<i64>> {
        let mut out = Vec::new();
        for_each(blob, |n| {
            out.push(n);
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn every_width_reads_and_a_bad_length_is_refused() {
        let mut b = vec![2, 0, 0, 0, 2, 0, 0, 0];
        b.extend((-5i16).to_le_bytes());
        b.extend(7i16.to_le_bytes());
        assert_eq!(read(&b).unwrap(), [-5, 7]);
        let mut b = vec![8, 0, 0, 0, 1, 0, 0, 0];
        b.extend(i64::MIN.to_le_bytes());
        assert_eq!(read(&b).unwrap(), [i64::MIN]);
        assert!(read(&b[..b.len() - 1]).is_err());
        assert!(read(&[3, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(read(&[2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
