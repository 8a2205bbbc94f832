//! A small reader for EDN, the data notation Jepsen and Knossos store histories in.
//!
//! It reads all of EDN that histories use (maps, vectors, lists, sets, keywords,
//! symbols, strings, characters, integers, floats, `nil`, booleans, tagged literals such
//! as `#inst` or `#jepsen.history.Op{...}`, comments and `#_` discards) and reports
//! the line and column of anything it cannot read. A hand-written reader keeps this
//! crate's dependencies to serde: the EDN crates on crates.io bring arbitrary-precision
//! numbers, dates and UUIDs that a history never needs.

use serde_json::{Map, Number, Value};

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 200;

/// An Edn is one EDN value.
#[derive(Clone, Debug, PartialEq)]
pub enum Edn {
    /// `nil`.
    Nil,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// A floating-point number (also ratios and big decimals, approximately).
    Float(f64),
    /// A string.
    Str(String),
    /// A character literal such as `\a`.
    Char(char),
    /// A keyword, without its colon (`:type` is `Keyword("type")`).
    Keyword(String),
    /// A symbol.
    Symbol(String),
    /// `( ... )`.
    List(Vec<Edn>),
    /// `[ ... ]`.
    Vector(Vec<Edn>),
    /// `#{ ... }`.
    Set(Vec<Edn>),
    /// `{ ... }`, in file order.
    Map(Vec<(Edn, Edn)>),
    /// `#tag value`.
    Tagged(String, Box<Edn>),
}

impl Edn {
    /// The value a map holds under keyword `key`.
    pub fn get(&self, key: &str) -> Option<&Edn> {
        let target = match self {
            Edn::Map(entries) => entries,
            Edn::Tagged(_, inner) => return inner.get(key),
            _ => return None,
        };
        target
            .iter()
            .find(|(k, _)| matches!(k, Edn::Keyword(name) if name == key))
            .map(|(_, v)| v)
    }

    /// The value as JSON: keywords and symbols become strings, sequences and sets become
    /// arrays, maps become objects keyed by their keys' text, tags are dropped.
    pub fn to_json(&self) -> Value {
        match self {
            Edn::Nil => Value::Null,
            Edn::Bool(b) => Value::Bool(*b),
            Edn::Int(i) => Value::from(*i),
            Edn::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) => Value::String(s.clone()),
            Edn::Char(c) => Value::String(c.to_string()),
            Edn::List(items) | Edn::Vector(items) | Edn::Set(items) => {
                Value::Array(items.iter().map(Edn::to_json).collect())
            }
            Edn::Map(entries) => {
                let mut map = Map::new();
                for (k, v) in entries {
                    let key = match k.to_json() {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    map.insert(key, v.to_json());
                }
                Value::Object(map)
            }
            Edn::Tagged(_, inner) => inner.to_json(),
        }
    }
}

/// An EdnError is a place in the text that is not valid EDN, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdnError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in bytes).
    pub column: usize,
    /// What was expected and what was found.
    pub message: String,
}

/// A Reader reads EDN forms one after another from a text.
pub struct Reader<'a> {
    text: &'a [u8],
    pos: usize,
    line: usize,
    line_start: usize,
    depth: usize,
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._*+!-?$%&=<>/:#'".contains(&b) || b >= 0x80
}

impl<'a> Reader<'a> {
    /// A reader at the start of `text`.
    pub fn new(text: &'a str) -> Reader<'a> {
        Reader {
            text: text.as_bytes(),
            pos: 0,
            line: 1,
            line_start: 0,
            depth: 0,
        }
    }

    /// The 1-based line the reader is on.
    pub fn line(&self) -> usize {
        self.line
    }

    fn error(&self, message: impl Into<String>) -> EdnError {
        EdnError {
            line: self.line,
            column: self.pos - self.line_start + 1,
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        if b == b'\n' {
            self.line += 1;
            self.line_start = self.pos;
        }
        Some(b)
    }

    /// Skips whitespace, commas, comments and `#_` discarded forms.
    pub fn skip_blank(&mut self) -> Result<(), EdnError> {
        loop {
            match self.peek() {
                Some(b) if b.is_ascii_whitespace() || b == b',' => {
                    self.bump();
                }
                Some(b';') => {
                    while self.peek().is_some_and(|b| b != b'\n') {
                        self.bump();
                    }
                }
                Some(b'#') if self.text.get(self.pos + 1) == Some(&b'_') => {
                    self.pos += 2;
                    self.read()?;
                }
                _ => return Ok(()),
            }
        }
    }

    /// Whether only blanks remain.
    pub fn at_end(&mut self) -> Result<bool, EdnError> {
        self.skip_blank()?;
        Ok(self.peek().is_none())
    }

    /// Consumes `byte` if it is next (after blanks).
    pub fn eat(&mut self, byte: u8) -> Result<bool, EdnError> {
        self.skip_blank()?;
        if self.peek() == Some(byte) {
            self.bump();
            return Ok(true);
        }
        Ok(false)
    }

    /// Reads the next form, or None at the end of the text.
    pub fn next_form(&mut self) -> Result<Option<(usize, Edn)>, EdnError> {
        if self.at_end()? {
            return Ok(None);
        }
        let line = self.line;
        Ok(Some((line, self.read()?)))
    }

    /// Reads one form.
    pub fn read(&mut self) -> Result<Edn, EdnError> {
        self.skip_blank()?;
        let Some(b) = self.peek() else {
            return Err(self.error("unexpected end of input (a value was expected)"));
        };
        match b {
            b'(' | b'[' | b'{' => {
                self.bump();
                self.collection(b)
            }
            b')' | b']' | b'}' => Err(self.error(format!("unexpected {:?}", b as char))),
            b'"' => {
                self.bump();
                self.string().map(Edn::Str)
            }
            b'\\' => {
                self.bump();
                self.character().map(Edn::Char)
            }
            b'#' => {
                self.bump();
                self.dispatch()
            }
            _ => self.atom(),
        }
    }

    fn collection(&mut self, open: u8) -> Result<Edn, EdnError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(format!("nesting deeper than {MAX_DEPTH}")));
        }
        self.depth += 1;
        let close = match open {
            b'(' => b')',
            b'[' => b']',
            _ => b'}',
        };
        let mut items = Vec::new();
        loop {
            self.skip_blank()?;
            match self.peek() {
                None => {
                    return Err(self.error(format!(
                        "unexpected end of input ({:?} expected)",
                        close as char
                    )));
                }
                Some(b) if b == close => {
                    self.bump();
                    break;
                }
                Some(_) => items.push(self.read()?),
            }
        }
        self.depth -= 1;
        Ok(match open {
            b'(' => Edn::List(items),
            b'[' => Edn::Vector(items),
            b'#' => Edn::Set(items),
            _ => {
                if items.len() % 2 != 0 {
                    return Err(self.error("a map needs an even number of forms"));
                }
                let mut entries = Vec::with_capacity(items.len() / 2);
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    entries.push((k, v));
                }
                Edn::Map(entries)
            }
        })
    }

    fn dispatch(&mut self) -> Result<Edn, EdnError> {
        match self.peek() {
            Some(b'{') => {
                self.bump();
                self.collection(b'#')
            }
            Some(b) if b.is_ascii_alphabetic() => {
                let tag = self.token();
                // Records print as #name{...} with no space; the value follows the tag.
                let value = self.read()?;
                Ok(Edn::Tagged(tag.to_owned(), Box::new(value)))
            }
            _ => Err(self.error("'#' must start a set, a tag or a discard")),
        }
    }

    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(is_token_byte) {
            self.pos += 1;
        }
        // Token bytes are ASCII or whole UTF-8 sequences, so this split is on a boundary.
        std::str::from_utf8(&self.text[start..self.pos]).unwrap_or("")
    }

    fn atom(&mut self) -> Result<Edn, EdnError> {
        let (line, col) = (self.line, self.pos - self.line_start + 1);
        let token = self.token();
        if token.is_empty() {
            let b = self.peek().unwrap_or(b' ');
            return Err(self.error(format!("unexpected character {:?}", b as char)));
        }
        let err = |message: String| EdnError {
            line,
            column: col,
            message,
        };
        if let Some(name) = token.strip_prefix(':') {
            if name.is_empty() {
                return Err(err("empty keyword ':'".to_owned()));
            }
            return Ok(Edn::Keyword(name.to_owned()));
        }
        let bytes = token.as_bytes();
        let numeric = bytes[0].is_ascii_digit()
            || (bytes.len() > 1
                && (bytes[0] == b'-' || bytes[0] == b'+')
                && bytes[1].is_ascii_digit());
        if numeric {
            return number(token).ok_or_else(|| err(format!("bad number {token:?}")));
        }
        Ok(match token {
            "nil" => Edn::Nil,
            "true" => Edn::Bool(true),
            "false" => Edn::Bool(false),
            _ => Edn::Symbol(token.to_owned()),
        })
    }

    fn string(&mut self) -> Result<String, EdnError> {
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(b) = self.bump() else {
                return Err(self.error("unterminated string (a closing '\"' was expected)"));
            };
            match b {
                b'"' => break,
                b'\\' => {
                    let escaped = match self.bump() {
                        Some(b'n') => '\n',
                        Some(b't') => '\t',
                        Some(b'r') => '\r',
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'u') => self.unicode_escape()?,
                        other => {
                            let shown = other
                                .map_or("end of input".to_owned(), |b| format!("{:?}", b as char));
                            return Err(self.error(format!("bad string escape \\{shown}")));
                        }
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(escaped.encode_utf8(&mut buf).as_bytes());
                }
                other => out.push(other),
            }
        }
        String::from_utf8(out).map_err(|_| self.error("string is not valid UTF-8"))
    }

    fn unicode_escape(&mut self) -> Result<char, EdnError> {
        let digits = self.text.get(self.pos..self.pos + 4).unwrap_or(&[]);
        let code = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .and_then(char::from_u32)
            .ok_or_else(|| self.error("\\u must be followed by 4 hex digits of a character"))?;
        self.pos += 4;
        Ok(code)
    }

    fn character(&mut self) -> Result<char, EdnError> {
        let start = self.pos;
        let first = self
            .bump()
            .ok_or_else(|| self.error("a character was expected after '\\'"))?;
        if !first.is_ascii_alphanumeric() {
            // A single character, possibly multi-byte.
            let len = utf8_len(first);
            self.pos = start + len;
            let text = self.text.get(start..self.pos).unwrap_or(&[]);
            return std::str::from_utf8(text)
                .ok()
                .and_then(|s| s.chars().next())
                .ok_or_else(|| self.error("bad character literal"));
        }
        self.pos = start;
        let token = self.token();
        match token {
            "newline" => Ok('\n'),
            "space" => Ok(' '),
            "tab" => Ok('\t'),
            "return" => Ok('\r'),
            t if t.len() == 1 => Ok(t.as_bytes()[0] as char),
            t if t.starts_with('u') && t.len() == 5 => u32::from_str_radix(&t[1..], 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| self.error(format!("bad character literal \\{t}"))),
            t => Err(self.error(format!("bad character literal \\{t}"))),
        }
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

fn number(token: &str) -> Option<Edn> {
    let plain = token.strip_suffix(['N', 'M']).unwrap_or(token);
    if let Some((n, d)) = plain.split_once('/') {
        let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
        return Some(Edn::Float(n / d));
    }
    if plain.contains(['.', 'e', 'E']) || token.ends_with('M') {
        return plain
            .parse()
            .ok()
            .filter(|f: &f64| f.is_finite())
            .map(Edn::Float);
    }
    plain.parse().ok().map(Edn::Int)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Edn {
        Reader::new(text).read().unwrap()
    }

    #[test]
    fn a_jepsen_op_map_reads_with_every_kind_of_value() {
        let op = one(
            r#"{:type :invoke, :f :cas, :value [1 2], :process 0, :time 12, :error "x\ny", :s #{1}}"#,
        );
        assert_eq!(op.get("type"), Some(&Edn::Keyword("invoke".into())));
        assert_eq!(
            op.get("value"),
            Some(&Edn::Vector(vec![Edn::Int(1), Edn::Int(2)]))
        );
        assert_eq!(op.get("error"), Some(&Edn::Str("x\ny".into())));
        assert_eq!(op.get("s"), Some(&Edn::Set(vec![Edn::Int(1)])));
    }

    #[test]
    fn records_tags_comments_and_discards_are_understood() {
        let op = one("#jepsen.history.Op{:index 3 ; a comment\n #_ :skipped :f :read}");
        assert_eq!(op.get("index"), Some(&Edn::Int(3)));
        assert_eq!(op.get("f"), Some(&Edn::Keyword("read".into())));
        assert_eq!(
            one(r#"#inst "2020-01-01""#).to_json(),
            serde_json::json!("2020-01-01")
        );
    }

    #[test]
    fn numbers_characters_and_symbols_read_as_expected() {
        assert_eq!(one("-12"), Edn::Int(-12));
        assert_eq!(one("1.5"), Edn::Float(1.5));
        assert_eq!(one("1/2"), Edn::Float(0.5));
        assert_eq!(one("7N"), Edn::Int(7));
        assert_eq!(one("\\newline"), Edn::Char('\n'));
        assert_eq!(one("\\a"), Edn::Char('a'));
        assert_eq!(one("foo/bar"), Edn::Symbol("foo/bar".into()));
        assert_eq!(one("nil"), Edn::Nil);
    }

    #[test]
    fn errors_name_line_and_column() {
        let err = Reader::new("{:a 1\n :b [1 2}").read().unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("unexpected '}'"), "{err:?}");
        let err = Reader::new("\"open").read().unwrap_err();
        assert!(err.message.contains("unterminated string"), "{err:?}");
        let err = Reader::new("{:a}").read().unwrap_err();
        assert!(err.message.contains("even number"), "{err:?}");
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let text = "[".repeat(100_000);
        let err = Reader::new(&text).read().unwrap_err();
        assert!(err.message.contains("nesting deeper"), "{err:?}");
    }
}
