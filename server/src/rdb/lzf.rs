//! LZF decompression (liblzf's `lzf_decompress`, as Redis uses for strings it compresses in
//! RDB files), bounded: it never writes past the length the file declared.

/// Why compressed bytes could not be expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LzfError {
    /// The input ended inside a literal run or back-reference.
    Truncated,
    /// A back-reference points before the start of the output.
    BadReference,
    /// The output would be longer than declared.
    TooLong,
    /// The output is shorter than declared.
    TooShort,
}

/// Expands `input` into exactly `len` bytes.
///
/// # Errors
/// [`LzfError`] when `input` is not an LZF stream of exactly `len` bytes.
pub fn decompress(input: &[u8], len: usize) -> Result<Vec<u8>, LzfError> {
    let mut out: Vec<u8> = Vec::with_capacity(len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = usize::from(input[i]);
        i += 1;
        if ctrl < 32 {
            // A literal run of ctrl + 1 bytes.
            let run = ctrl + 1;
            let lit = input.get(i..i + run).ok_or(LzfError::Truncated)?;
            if out.len() + run > len {
                return Err(LzfError::TooLong);
            }
            out.extend_from_slice(lit);
            i += run;
        } else {
            // A back-reference: length in the top 3 bits (7 = one more byte), offset in 13.
            let mut run = ctrl >> 5;
            if run == 7 {
                run += usize::from(*input.get(i).ok_or(LzfError::Truncated)?);
                i += 1;
            }
            run += 2;
            let low = usize::from(*input.get(i).ok_or(LzfError::Truncated)?);
            i += 1;
            let back = ((ctrl & 0x1f) << 8) + low + 1;
            if back > out.len() {
                return Err(LzfError::BadReference);
            }
            if out.len() + run > len {
                return Err(LzfError::TooLong);
            }
            let start = out.len() - back;
            // Byte by byte: the reference may overlap what it produces.
            for k in 0..run {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    if out.len() != len {
        return Err(LzfError::TooShort);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_and_overlapping_back_reference() {
        // "abc" literal, then a back-reference of 6 bytes at distance 3: "abcabcabc".
        let input = [2, b'a', b'b', b'c', (4 << 5), 2];
        assert_eq!(decompress(&input, 9).unwrap(), b"abcabcabc");
        assert_eq!(decompress(&input, 8), Err(LzfError::TooLong));
        assert_eq!(decompress(&input, 10), Err(LzfError::TooShort));
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        assert_eq!(decompress(&[5, b'a'], 6), Err(LzfError::Truncated));
        assert_eq!(decompress(&[0x20, 0], 2), Err(LzfError::BadReference));
        assert_eq!(decompress(&[0xe0], 9), Err(LzfError::Truncated));
        for seed in 0u32..2000 {
            let bytes: Vec<u8> = (0..(seed % 40))
                .map(|i| (seed.wrapping_mul(2_654_435_761).wrapping_add(i * 97) >> 7) as u8)
                .collect();
            let _ = decompress(&bytes, (seed % 300) as usize);
        }
    }
}
