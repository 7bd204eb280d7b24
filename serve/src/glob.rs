//! Glob matching with Redis's `stringmatchlen` semantics, without recursion.
//!
//! Redis recurses once per `*` (with a "skip longer matches" cut-off); here the same
//! language is matched iteratively by backtracking to the last `*` only, which is
//! enough because every other pattern element consumes exactly one byte. Time is
//! O(pattern × subject) and stack use is constant, whatever a client sends.

/// Returns true when `s` matches the glob `pattern`, as Redis's `stringmatchlen` (case-sensitive).
///
/// `*` any run of bytes, `?` one byte, `[abc]` `[^a]` `[a-z]` a class, `\x` the byte `x`.
/// Quirks kept on purpose: an unterminated `[` runs to the end of the pattern; `[z-a]` is
/// the range `a-z`; an empty subject matches only an empty pattern (Redis's KEYS and SCAN
/// special-case the pattern `*` before matching).
pub fn glob_match(pattern: &[u8], s: &[u8]) -> bool {
    if s.is_empty() {
        // stringmatchlen's loop never runs: only an empty pattern matches.
        return pattern.is_empty();
    }
    let mut p = 0;
    let mut i = 0;
    // Where to resume after the last `*`: (pattern index after it, subject index it took up to).
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            while p < pattern.len() && pattern[p] == b'*' {
                p += 1;
            }
            if p == pattern.len() {
                return true;
            }
            star = Some((p, i));
            continue;
        }
        if p < pattern.len() {
            let (matched, next) = match_one(pattern, p, s[i]);
            if matched {
                p = next;
                i += 1;
                continue;
            }
        }
        match star {
            Some((sp, si)) if si + 1 < s.len() => {
                star = Some((sp, si + 1));
                p = sp;
                i = si + 1;
            }
            _ => return false,
        }
    }
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
}

/// Matches one pattern element at `p` (not `*`) against byte `c`; returns whether it
/// matched and the index of the next element.
fn match_one(pattern: &[u8], p: usize, c: u8) -> (bool, usize) {
    match pattern[p] {
        b'?' => (true, p + 1),
        b'[' => match_class(pattern, p + 1, c),
        b'\\' if pattern.len() - p >= 2 => (pattern[p + 1] == c, p + 2),
        lit => (lit == c, p + 1),
    }
}

/// Matches a `[...]` class starting just after the `[`, byte for byte as stringmatchlen
/// (C `char` is signed there, so ranges compare bytes as `i8`).
fn match_class(pattern: &[u8], mut p: usize, c: u8) -> (bool, usize) {
    // Past the end reads as the NUL terminator of Redis's sds string.
    let at = |i: usize| pattern.get(i).copied().unwrap_or(0);
    let negate = at(p) == b'^' && p < pattern.len();
    if negate {
        p += 1;
    }
    let mut matched = false;
    loop {
        let left = pattern.len().saturating_sub(p);
        if at(p) == b'\\' && left >= 2 {
            p += 1;
            if pattern[p] == c {
                matched = true;
            }
        } else if at(p) == b']' && left >= 1 {
            break;
        } else if left == 0 {
            // Unterminated class: it ends with the pattern.
            return (matched != negate, pattern.len());
        } else if left >= 3 && pattern[p + 1] == b'-' {
            let (mut start, mut end) = (pattern[p] as i8, pattern[p + 2] as i8);
            if start > end {
                std::mem::swap(&mut start, &mut end);
            }
            let ch = c as i8;
            if ch >= start && ch <= end {
                matched = true;
            }
            p += 2;
        } else if pattern[p] == c {
            matched = true;
        }
        p += 1;
    }
    (matched != negate, p + 1)
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    fn m(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes())
    }

    #[test]
    fn stars_and_question_marks() {
        assert!(m("*", "anything"));
        assert!(m("h?llo", "hello"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("*a*", "banana"));
        assert!(m("**a**", "a"));
        assert!(m("a*", "a"));
        assert!(!m("a", "ab"));
        assert!(!m("ab", "a"));
        assert!(m("*.txt", "x.y.txt"));
        assert!(!m("*.txt", "x.txt.y"));
    }

    #[test]
    fn classes_ranges_and_negation() {
        assert!(m("h[ae]llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"), "reversed range");
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("[\\]]", "]"));
        assert!(m("[a-]", "]"), "'a-]' is the range ]..a in Redis");
        assert!(m("[abc", "b"), "unterminated class runs to the end");
        assert!(!m("[", "a"));
        assert!(m("[^", "a"));
    }

    #[test]
    fn escapes_are_literal() {
        assert!(m("h\\*llo", "h*llo"));
        assert!(!m("h\\*llo", "hello"));
        assert!(m("\\?", "?"));
        assert!(!m("\\?", "a"));
        assert!(m("a\\", "a\\"), "a trailing backslash is literal");
    }

    #[test]
    fn case_sensitive_and_empty_subject() {
        assert!(!m("Hello", "hello"));
        assert!(!m("*", ""), "stringmatchlen never matches an empty subject");
        assert!(m("", ""));
        assert!(!m("", "a"));
    }

    #[test]
    fn pathological_patterns_finish_quickly() {
        let subject = "a".repeat(10_000);
        let pattern = format!("{}b", "*a".repeat(1_000));
        assert!(!glob_match(pattern.as_bytes(), subject.as_bytes()));
    }
}
