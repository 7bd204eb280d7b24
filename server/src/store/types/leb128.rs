//! The LEB128 lengths every packed form writes before an element (7 bits a byte, the high
//! bit set on all but the last): one byte for an element under 128 bytes.

/// Returns how many bytes the length `n` takes.
pub fn size(n: usize) -> usize {
    let mut n = n >> 7;
    let mut bytes = 1;
    while n != 0 {
        n >>= 7;
        bytes += 1;
    }
    bytes
}

/// Returns the bytes an element of `len` bytes takes with its length.
pub fn framed(len: usize) -> usize {
    size(len) + len
}

/// Appends the length `n`.
pub fn put(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Reads a length at `at`: returns it and the offset after it.
pub fn get(buf: &[u8], at: usize) -> (usize, usize) {
    let mut n = 0usize;
    let mut shift = 0;
    let mut i = at;
    loop {
        let byte = buf[i];
        i += 1;
        n |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return (n, i);
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lengths_round_trip() {
        for n in [0, 1, 127, 128, 16_383, 16_384, usize::MAX >> 1] {
            let mut out = vec![9];
            super::put(&mut out, n);
            assert_eq!(out.len() - 1, super::size(n));
            assert_eq!(super::get(&out, 1), (n, out.len()));
        }
    }
}
