//! `--exclude` patterns: a small glob matcher over torrent paths (`/`-joined components).
//!
//! `*` matches any run of characters within one name, `?` one character, `[abc]`, `[a-z]`
//! and `[!a-z]` (or `[^a-z]`) one character of a set, `\` takes the next character
//! literally, and `**` as a whole component matches any number of components, none
//! included. As in `.gitignore`: a pattern without `/` matches an entry's name at any depth,
//! one with `/` the whole path from the top folder (a leading `/` is allowed), and a
//! trailing `/` matches folders only.
//!
//! Matching is by dynamic programming over components and over characters, so its cost is
//! bounded by the product of the lengths whatever the pattern (no backtracking blow-up).

use std::fmt;

/// Longest pattern accepted, in characters: matching costs its length times the path's.
const MAX_PATTERN_CHARS: usize = 1024;

/// One compiled `--exclude` pattern.
#[derive(Clone)]
pub struct Glob {
    text: String,
    parts: Vec<Part>,
    /// Without a `/`: matched against the last component only.
    name_only: bool,
    dirs_only: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    /// `**`: any number of components.
    AnyComponents,
    /// One component's pattern.
    Component(Vec<Tok>),
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Lit(char),
    AnyChar,
    AnyRun,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.text)
    }
}

impl Glob {
    /// Compiles `text`, or says what is wrong with it.
    pub fn new(text: &str) -> Result<Glob, String> {
        if text.is_empty() {
            return Err("empty pattern".into());
        }
        if text.chars().count() > MAX_PATTERN_CHARS {
            return Err(format!("longer than {MAX_PATTERN_CHARS} characters"));
        }
        let dirs_only = text.ends_with('/') && !text.ends_with("\\/");
        let body = if dirs_only {
            &text[..text.len() - 1]
        } else {
            text
        };
        let name_only = !body.contains('/');
        let body = body.strip_prefix('/').unwrap_or(body);
        if body.is_empty() {
            return Err("no name in the pattern".into());
        }
        let mut parts = Vec::new();
        for comp in body.split('/') {
            if comp.is_empty() {
                return Err("empty component (`//`)".into());
            }
            if comp == "**" {
                // `**/**` is the same as `**`, and collapsing keeps matching linear in it.
                if parts.last() != Some(&Part::AnyComponents) {
                    parts.push(Part::AnyComponents);
                }
            } else {
                parts.push(Part::Component(tokens(comp)?));
            }
        }
        Ok(Glob {
            text: text.to_owned(),
            parts,
            name_only,
            dirs_only,
        })
    }

    /// Whether the entry at `path` (components joined by `/`) is matched.
    pub fn matches(&self, path: &str, is_dir: bool) -> bool {
        if self.dirs_only && !is_dir {
            return false;
        }
        if self.name_only {
            let name = path.rsplit('/').next().unwrap_or(path);
            return match self.parts.as_slice() {
                [Part::Component(toks)] => component_matches(toks, name),
                // A lone `**` matches everything.
                _ => true,
            };
        }
        let comps: Vec<&str> = path.split('/').collect();
        path_matches(&self.parts, &comps)
    }
}

/// The tokens of one component.
fn tokens(comp: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = comp.chars();
    while let Some(c) = chars.next() {
        let tok = match c {
            '*' => {
                if out.last() == Some(&Tok::AnyRun) {
                    continue;
                }
                Tok::AnyRun
            }
            '?' => Tok::AnyChar,
            '\\' => Tok::Lit(chars.next().ok_or("a trailing `\\` escapes nothing")?),
            '[' => class(&mut chars)?,
            c => Tok::Lit(c),
        };
        out.push(tok);
    }
    Ok(out)
}

/// A `[...]` set, read after its `[`.
fn class(chars: &mut std::str::Chars<'_>) -> Result<Tok, String> {
    let unclosed = || "`[` without its `]`".to_string();
    let mut negated = false;
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let mut c = chars.next().ok_or_else(unclosed)?;
        if first && (c == '!' || c == '^') && !negated {
            negated = true;
            continue;
        }
        // `]` right after `[` or `[!` is a member, as in the shell.
        if c == ']' && !first {
            break;
        }
        first = false;
        if c == '\\' {
            c = chars.next().ok_or_else(unclosed)?;
        }
        let mut peek = chars.clone();
        if peek.next() == Some('-') {
            match peek.next() {
                Some(']') | None => {}
                Some(mut hi) => {
                    if hi == '\\' {
                        hi = peek.next().ok_or_else(unclosed)?;
                    }
                    if hi < c {
                        return Err(format!("range `{c}-{hi}` runs backwards"));
                    }
                    *chars = peek;
                    ranges.push((c, hi));
                    continue;
                }
            }
        }
        ranges.push((c, c));
    }
    Ok(Tok::Class { negated, ranges })
}

/// Whether one component's tokens match `name` (`dp[i][j]`: tokens from `i` on match the
/// characters from `j` on; one row kept at a time).
fn component_matches(toks: &[Tok], name: &str) -> bool {
    let s: Vec<char> = name.chars().collect();
    let mut next = vec![false; s.len() + 1];
    next[s.len()] = true;
    for tok in toks.iter().rev() {
        let mut row = vec![false; s.len() + 1];
        for j in (0..=s.len()).rev() {
            row[j] = match tok {
                Tok::AnyRun => next[j] || (j < s.len() && row[j + 1]),
                _ => j < s.len() && one_char(tok, s[j]) && next[j + 1],
            };
        }
        next = row;
    }
    next[0]
}

fn one_char(tok: &Tok, c: char) -> bool {
    match tok {
        Tok::Lit(l) => *l == c,
        Tok::AnyChar => true,
        Tok::AnyRun => true,
        Tok::Class { negated, ranges } => {
            ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&c)) != *negated
        }
    }
}

/// The same dynamic programme over components, `**` standing for any number of them.
fn path_matches(parts: &[Part], comps: &[&str]) -> bool {
    let mut next = vec![false; comps.len() + 1];
    next[comps.len()] = true;
    for part in parts.iter().rev() {
        let mut row = vec![false; comps.len() + 1];
        for j in (0..=comps.len()).rev() {
            row[j] = match part {
                Part::AnyComponents => next[j] || (j < comps.len() && row[j + 1]),
                Part::Component(toks) => {
                    j < comps.len() && next[j + 1] && component_matches(toks, comps[j])
                }
            };
        }
        next = row;
    }
    next[0]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        Glob::new(pattern).unwrap().matches(path, false)
    }

    #[test]
    fn names_match_at_any_depth_and_paths_from_the_top() {
        assert!(m("*.nfo", "a.nfo"));
        assert!(m("*.nfo", "deep/er/a.nfo"));
        assert!(!m("*.nfo", "a.nfo.txt"));
        assert!(m("sample?.mkv", "x/sample1.mkv"));
        assert!(!m("sample?.mkv", "x/sample10.mkv"));
        assert!(m("extras/*", "extras/a"));
        assert!(!m("extras/*", "extras/a/b"), "`*` stays within a name");
        assert!(!m("extras/*", "cd1/extras/a"), "a `/` anchors at the top");
        assert!(m("/extras/*", "extras/a"));
        assert!(m("extras/**", "extras/a/b/c"));
        assert!(m("**/extras", "cd1/cd2/extras"));
        assert!(m("**/extras", "extras"), "`**` matches no component too");
        assert!(m("a/**/z", "a/z") && m("a/**/z", "a/b/c/z") && !m("a/**/z", "a/b/c/y"));
        assert!(m("**", "anything/at/all"));
        assert!(m("**/**/x", "a/x"));
        assert!(m("*", "a") && m("*", ".hidden"));
        assert!(!m("a*b", "a/b"));
        assert!(
            m("**", "x") && m("a**b", "axxb"),
            "`**` inside a name is `*`"
        );
    }

    #[test]
    fn sets_escapes_and_folders_only() {
        assert!(m("[abc].txt", "b.txt") && !m("[abc].txt", "d.txt"));
        assert!(m("[a-c0-9]x", "7x") && !m("[a-c0-9]x", "dx"));
        assert!(m("[!a-c]x", "dx") && !m("[!a-c]x", "ax"));
        assert!(m("[^a-c]x", "dx"));
        assert!(m("[]]", "]") && m("[!]]", "a") && !m("[!]]", "]"));
        assert!(m("[a-]", "-") && m("[a-]", "a"));
        assert!(m("\\*", "*") && !m("\\*", "a"));
        assert!(m("[\\]]", "]"));
        assert!(m("ü?.txt", "üß.txt"));
        let dirs = Glob::new("build/").unwrap();
        assert!(dirs.matches("x/build", true));
        assert!(!dirs.matches("x/build", false));
        let anchored = Glob::new("/cd1/tmp/").unwrap();
        assert!(anchored.matches("cd1/tmp", true) && !anchored.matches("cd2/cd1/tmp", true));
    }

    #[test]
    fn bad_patterns_are_refused_with_a_reason() {
        for (bad, why) in [
            ("", "empty"),
            ("/", "no name"),
            ("a//b", "empty component"),
            ("[abc", "without its `]`"),
            ("[", "without its `]`"),
            ("x\\", "escapes nothing"),
            ("[z-a]", "backwards"),
        ] {
            let e = Glob::new(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        assert!(Glob::new(&"*".repeat(2000)).is_err());
    }

    #[test]
    fn many_stars_stay_fast() {
        // A classic backtracking matcher takes exponential time here.
        let g = Glob::new(&format!("{}b", "a*".repeat(40))).unwrap();
        assert!(!g.matches(&"a".repeat(200), false));
        let g = Glob::new(&["**/a"; 100].join("/")).unwrap();
        assert!(!g.matches(&["a"; 99].join("/"), false));
    }
}
