//! Minimal XML writing for the query-protocol APIs (IAM, STS).

/// Escape text for element content.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

/// An XML fragment under construction.
#[derive(Default, Debug)]
pub(crate) struct Xml(pub String);

impl Xml {
    pub(crate) fn new() -> Self {
        Xml(String::with_capacity(512))
    }

    /// `<name>escaped value</name>`.
    pub(crate) fn elem(&mut self, name: &str, value: &str) -> &mut Self {
        self.0.push('<');
        self.0.push_str(name);
        self.0.push('>');
        escape_into(&mut self.0, value);
        self.0.push_str("</");
        self.0.push_str(name);
        self.0.push('>');
        self
    }

    /// `elem` when `value` is `Some`.
    pub(crate) fn opt(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.elem(name, v);
        }
        self
    }

    pub(crate) fn open(&mut self, name: &str) -> &mut Self {
        self.0.push('<');
        self.0.push_str(name);
        self.0.push('>');
        self
    }

    pub(crate) fn close(&mut self, name: &str) -> &mut Self {
        self.0.push_str("</");
        self.0.push_str(name);
        self.0.push('>');
        self
    }

    /// `<name><member>…</member>…</name>` of plain strings.
    pub(crate) fn members<'a>(
        &mut self,
        name: &str,
        values: impl IntoIterator<Item = &'a str>,
    ) -> &mut Self {
        self.open(name);
        for v in values {
            self.elem("member", v);
        }
        self.close(name)
    }

    /// `<Tags><member><Key/><Value/></member>…</Tags>`.
    pub(crate) fn tags<'a>(
        &mut self,
        name: &str,
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> &mut Self {
        self.open(name);
        for (k, v) in tags {
            self.open("member")
                .elem("Key", k)
                .elem("Value", v)
                .close("member");
        }
        self.close(name)
    }
}
