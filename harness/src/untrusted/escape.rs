//! Escapers for every output format nlstorm writes untrusted text into. Each one is
//! total: any string in, text that the format reads back as that string's content (or a
//! visible stand-in for what the format cannot hold), never as structure or code.

use std::fmt::Write;

/// Characters that reorder or hide text on a terminal or in an editor without being
/// control characters (bidirectional overrides, zero-width joiners, BOM: the "Trojan
/// Source" set; soft hyphens, fillers, variation selectors, interlinear annotations,
/// the tag block that can spell hidden text), and non-characters (U+FFFE, U+FFFF and
/// their kin, which XML cannot hold): shown escaped so what is printed is what is there.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
        | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}' | '\u{3164}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}'
        | '\u{ffa0}' | '\u{fff9}'..='\u{fffb}' | '\u{fdd0}'..='\u{fdef}'
        | '\u{e0000}'..='\u{e007f}' | '\u{e0100}'..='\u{e01ef}')
        || (c as u32) & 0xfffe == 0xfffe
}

fn escaped(c: char) -> String {
    c.escape_unicode().to_string()
}

/// Text for a terminal: control characters (C0, DEL, C1: the ANSI escape sequences ride
/// on these) and invisible reordering characters are printed as escapes such as
/// `\u{1b}`; newlines are kept when `keep_newlines` so a multi-line message stays one.
fn for_terminal(s: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '\n' && keep_newlines {
            out.push(c);
        } else if c.is_control() || invisible(c) {
            out.push_str(&escaped(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// `s` safe to print on a terminal: see `for_terminal`; newlines are kept, since
/// nlstorm prints multi-line messages, while every other control character is escaped.
pub fn terminal(s: &str) -> String {
    for_terminal(s, true)
}

/// `s` on one terminal line: like [`terminal`], and newlines are escaped too.
pub fn terminal_line(s: &str) -> String {
    for_terminal(s, false)
}

/// A C string literal (quotes included) holding exactly the bytes of `s`. Only printable
/// ASCII other than `"`, `\` and `?` goes in as itself; every other byte is a three-digit
/// octal escape, so no byte can end the literal, start an escape the compiler reads
/// differently, or form a trigraph (`??/` is a backslash under `-trigraphs`).
pub fn c_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for b in s.bytes() {
        if (0x20..=0x7e).contains(&b) && !matches!(b, b'"' | b'\\' | b'?') {
            out.push(b as char);
        } else {
            let _ = write!(out, "\\{b:03o}");
        }
    }
    out.push('"');
    out
}

/// Text that can stand inside a C block comment on one line: printable ASCII only, with
/// `*` (which could close the comment), `\` (which could splice the next line in) and
/// `?` (trigraphs) replaced by `_`, as is every other byte.
pub fn c_comment(s: &str) -> String {
    s.chars()
        .map(|c| {
            if (' '..='~').contains(&c) && !matches!(c, '*' | '\\' | '?') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Text for XML character data or an attribute value. The five markup characters become
/// entities; tab, newline and carriage return become character references (so an
/// attribute keeps them); characters XML 1.0 cannot hold at all (other C0 controls,
/// U+FFFE, U+FFFF) and the discouraged ones (DEL, C1) are written as visible escapes
/// such as `\u{1b}`, since no reference can carry them.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' || invisible(c) => {
                out.push_str(&escaped(c))
            }
            c => out.push(c),
        }
    }
    out
}

/// A text CSV field as a spreadsheet should read it: a leading `=`, `+`, `-`, `@`, tab or
/// carriage return would make Excel or LibreOffice evaluate it as a formula (CSV
/// injection), so such a field is prefixed with `'` unless it is a number. Quoting is
/// left to the CSV writer.
pub fn csv_field(s: &str) -> String {
    let formula = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if formula && s.parse::<f64>().is_err() {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn terminal_escapes_hidden_text_and_what_xml_cannot_hold() {
        // A tag-block "hi", a soft hyphen, U+FFFE.
        assert_eq!(terminal("a\u{e0068}\u{e0069}b"), "a\\u{e0068}\\u{e0069}b");
        assert_eq!(terminal("x\u{ad}y"), "x\\u{ad}y");
        assert_eq!(terminal_line("\u{fffe}\n"), "\\u{fffe}\\u{a}");
        assert_eq!(terminal("plain é 中"), "plain é 中");
    }

    #[test]
    fn terminal_escapes_ansi_and_bidi() {
        assert_eq!(terminal("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(terminal("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(terminal("l1\nl2\r"), "l1\nl2\\u{d}");
        assert_eq!(terminal("\u{9b}31m"), "\\u{9b}31m");
    }

    #[test]
    fn c_string_escapes_every_byte_that_could_matter() {
        assert_eq!(c_string("a\"b\\c"), "\"a\\042b\\134c\"");
        assert_eq!(c_string("??/"), "\"\\077\\077/\"");
        assert_eq!(c_string("\n1"), "\"\\0121\"");
        assert_eq!(c_string("é"), "\"\\303\\251\"");
    }

    #[test]
    fn c_comment_cannot_close_or_splice() {
        assert_eq!(c_comment("x */ y\nz\\"), "x _/ y_z_");
    }

    #[test]
    fn xml_escapes_markup_and_controls() {
        assert_eq!(
            xml("<a href='x'>&\"\x1b\x00\n"),
            "&lt;a href=&apos;x&apos;&gt;&amp;&quot;\\u{1b}\\u{0}&#10;"
        );
    }

    #[test]
    fn csv_formulas_are_neutralised_numbers_are_not() {
        assert_eq!(csv_field("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_field("-1.5"), "-1.5");
        assert_eq!(csv_field("agrees"), "agrees");
    }

    proptest! {
        #[test]
        fn c_string_is_one_plain_literal(s in any::<String>()) {
            let lit = c_string(&s);
            let inner = &lit[1..lit.len() - 1];
            // Printable ASCII only, no quote, no trigraph lead, and every backslash
            // starts a three-digit octal escape.
            prop_assert!(inner.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'?'));
            let mut bytes = Vec::new();
            let raw = inner.as_bytes();
            let mut i = 0;
            while i < raw.len() {
                if raw[i] == b'\\' {
                    let oct = std::str::from_utf8(&raw[i + 1..i + 4]).unwrap();
                    bytes.push(u8::from_str_radix(oct, 8).unwrap());
                    i += 4;
                } else {
                    bytes.push(raw[i]);
                    i += 1;
                }
            }
            prop_assert_eq!(bytes, s.as_bytes());
        }

        #[test]
        fn c_comment_is_inert(s in any::<String>()) {
            let c = c_comment(&s);
            prop_assert!(!c.contains("*/") && !c.contains('\\') && !c.contains('?') && !c.contains('\n'));
            prop_assert!(c.bytes().all(|b| (0x20..=0x7e).contains(&b)));
        }

        #[test]
        fn xml_output_holds_no_markup_or_forbidden_char(s in any::<String>()) {
            let x = xml(&s);
            prop_assert!(!x.contains('<') && !x.contains('>') && !x.contains('"') && !x.contains('\''));
            prop_assert!(x.chars().all(|c| !c.is_control()));
            // Every `&` starts one of the entities written above.
            for (i, _) in x.match_indices('&') {
                let rest = &x[i..];
                prop_assert!(["&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#9;", "&#10;", "&#13;"]
                    .iter().any(|e| rest.starts_with(e)));
            }
        }

        #[test]
        fn terminal_output_holds_no_control_but_newline(s in any::<String>()) {
            let t = terminal(&s);
            prop_assert!(t.chars().all(|c| c == '\n' || (!c.is_control() && !invisible(c))));
        }
    }
}
