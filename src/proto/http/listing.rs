//! Directory listing HTML (a static service's
//! `options.enable_directory_listing`): a plain page linking each entry.
//! Every name is HTML-escaped in the text and percent-encoded (then
//! escaped) in its link, so a file called `<script>` or `a"b` shows as
//! itself and links to itself.

use std::borrow::Cow;

use super::date::HttpDate;
use super::path::encode_path_segment;

/// One entry of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingEntry {
    /// The file name (UTF-8; the I/O side skips names that are not).
    pub name: String,
    /// A directory (listed with a trailing `/`, before files).
    pub is_dir: bool,
    /// Size in octets (files).
    pub size: Option<u64>,
    /// Last modification.
    pub modified: Option<HttpDate>,
}

/// `s` with `& < > " '` replaced by character references.
pub fn escape_html(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The listing page of the directory at URL path `url_path` (as the client
/// sees it, already normalised, e.g. [`super::path::StaticPath::to_url_path`]).
/// Entries are sorted: directories first, then by name; a link to the parent
/// comes first unless this is `/`. Links are relative to the directory.
pub fn directory_listing(url_path: &str, entries: &[ListingEntry]) -> String {
    use std::fmt::Write as _;
    let mut sorted: Vec<&ListingEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
    let title = escape_html(url_path);
    let mut out = String::with_capacity(512 + 128 * entries.len());
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Index of {title}</title>\n</head>\n<body>\n<h1>Index of {title}</h1>\n\
         <table>\n<tr><th>Name</th><th>Size</th><th>Last modified</th></tr>\n"
    );
    if !url_path.trim_end_matches('/').is_empty() {
        out.push_str("<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    }
    for e in sorted {
        let slash = if e.is_dir { "/" } else { "" };
        let href = escape_html(&encode_path_segment(&e.name)).into_owned();
        let name = escape_html(&e.name);
        let size = e.size.map(|s| s.to_string()).unwrap_or_default();
        let modified = e.modified.map(|d| d.to_string()).unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr><td><a href=\"./{href}{slash}\">{name}{slash}</a></td>\
             <td>{size}</td><td>{modified}</td></tr>"
        );
    }
    out.push_str("</table>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, is_dir: bool) -> ListingEntry {
        ListingEntry {
            name: name.to_owned(),
            is_dir,
            size: (!is_dir).then_some(42),
            modified: Some(HttpDate::from_unix(784_111_777)),
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(escape_html("plain"), "plain");
        assert_eq!(
            escape_html("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn listing_page() {
        let html = directory_listing(
            "/docs/",
            &[
                entry("b.txt", false),
                entry("<script>alert(1)</script>", false),
                entry("sub dir", true),
                entry("a\"b&c", false),
            ],
        );
        assert!(html.contains("<title>Index of /docs/</title>"));
        assert!(html.contains("<a href=\"../\">../</a>"));
        // Names are escaped in text and encoded in links.
        assert!(!html.contains("<script>"));
        assert!(html.contains(
            "<a href=\"./%3Cscript%3Ealert(1)%3C%2Fscript%3E\">&lt;script&gt;alert(1)&lt;/script&gt;</a>"
        ));
        assert!(html.contains("<a href=\"./a%22b&amp;c\">a&quot;b&amp;c</a>"));
        assert!(html.contains("<a href=\"./sub%20dir/\">sub dir/</a></td><td></td>"));
        assert!(html.contains("<td>42</td><td>Sun, 06 Nov 1994 08:49:37 GMT</td>"));
        // Directories first, then by name.
        let pos = |s: &str| html.find(s).expect("listed");
        assert!(pos("sub dir/") < pos(">&lt;script"));
        assert!(pos(">&lt;script") < pos(">a&quot;b"));
        assert!(pos(">a&quot;b") < pos(">b.txt"));
    }

    #[test]
    fn root_has_no_parent_link_and_title_is_escaped() {
        let html = directory_listing("/", &[]);
        assert!(!html.contains("../"));
        let html = directory_listing("/<x>/", &[]);
        assert!(html.contains("Index of /&lt;x&gt;/"));
    }
}
