//! Minimal XML writing (responses are small and fixed-shape; a writer by hand is the fastest
//! and clearest) and helpers for parsing request bodies with quick-xml.

/// Append `s` with XML special characters escaped.
pub fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not representable in XML 1.0 text; S3 escapes them as
            // character references, which XML 1.1 parsers (and the SDKs) accept.
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => {
                out.push_str(&format!("&#x{:X};", c as u32));
            }
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

/// Append `<name>value</name>`.
pub fn elem(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    escape_into(out, value);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// The XML declaration plus a root element with S3's namespace.
pub fn start(root: &str) -> String {
    let mut x = String::with_capacity(512);
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
    x.push_str(root);
    x.push_str(" xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    x
}

/// Close the root element.
pub fn end(mut x: String, root: &str) -> String {
    x.push_str("</");
    x.push_str(root);
    x.push('>');
    x
}

/// Parse a request body with quick-xml's serde support; any error is S3's MalformedXML.
pub fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> crate::S3Result<T> {
    let text = std::str::from_utf8(body).map_err(|_| crate::S3Error::malformed_xml())?;
    quick_xml::de::from_str(text).map_err(|_| crate::S3Error::malformed_xml())
}

/// S3's timestamp format in XML bodies: `2006-02-03T16:45:09.000Z`.
pub fn iso8601(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// HTTP date (`Last-Modified`): RFC 1123 in GMT.
pub fn http_date(ms: i64) -> String {
    let secs = (ms / 1000).max(0) as u64;
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn escapes() {
        let mut s = String::new();
        escape_into(&mut s, "a<b>&\"'\u{1}");
        assert_eq!(s, "a&lt;b&gt;&amp;&quot;&apos;&#x1;");
        assert_eq!(iso8601(1_000), "1970-01-01T00:00:01.000Z");
    }
}

/// A parsed XML element with its text kept verbatim (object keys may begin or end with
/// whitespace, which serde-based parsing trims).
#[derive(Debug, Default)]
pub struct Node {
    /// Local element name.
    pub name: String,
    /// Concatenated text content (unescaped, untrimmed).
    pub text: String,
    /// Child elements in order.
    pub children: Vec<Node>,
}

impl Node {
    /// Parse a document; depth and size are bounded by the caller's body limit and 32 levels.
    pub fn parse(body: &[u8]) -> crate::S3Result<Node> {
        use quick_xml::events::Event;
        let mut reader = quick_xml::Reader::from_reader(body);
        let mut stack: Vec<Node> = vec![Node::default()];
        let bad = crate::S3Error::malformed_xml;
        loop {
            match reader.read_event().map_err(|_| bad())? {
                Event::Start(e) => {
                    if stack.len() > 32 {
                        return Err(bad());
                    }
                    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    stack.push(Node {
                        name,
                        ..Default::default()
                    });
                }
                Event::Empty(e) => {
                    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    let parent = stack.last_mut().ok_or_else(bad)?;
                    parent.children.push(Node {
                        name,
                        ..Default::default()
                    });
                }
                Event::End(_) => {
                    let node = stack.pop().ok_or_else(bad)?;
                    let parent = stack.last_mut().ok_or_else(bad)?;
                    parent.children.push(node);
                }
                Event::Text(t) => {
                    let text = t.unescape().map_err(|_| bad())?;
                    stack.last_mut().ok_or_else(bad)?.text.push_str(&text);
                }
                Event::CData(t) => {
                    let text = std::str::from_utf8(t.as_ref()).map_err(|_| bad())?;
                    stack.last_mut().ok_or_else(bad)?.text.push_str(text);
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if stack.len() != 1 {
            return Err(bad());
        }
        let mut doc = stack.pop().ok_or_else(bad)?;
        if doc.children.len() != 1 {
            return Err(bad());
        }
        doc.children.pop().ok_or_else(bad)
    }

    /// Child elements named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
}
