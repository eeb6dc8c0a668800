//! `multipart/form-data` bodies, as twilight sends messages and interaction answers with files:
//! a `payload_json` part with the JSON body, and one `files[n]` part per attachment.
//!
//! Just enough of RFC 7578 for that: the boundary from the `Content-Type`, each part's
//! `Content-Disposition` name and filename, and its bytes. Binary-safe.

/// A file uploaded with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeFile {
    /// The form field (`files[0]`).
    pub field: String,
    /// The file name the client gave.
    pub filename: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A parsed form: the JSON payload, if any, and the files.
#[derive(Debug, Default)]
pub(super) struct Form {
    pub(super) payload: Option<Vec<u8>>,
    pub(super) files: Vec<FakeFile>,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// A `name="value"` parameter of a `Content-Disposition` header.
fn parameter(header: &str, name: &str) -> Option<String> {
    let start = header.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = header.get(start..)?;
    Some(rest.get(..rest.find('"')?)?.to_owned())
}

/// Parses a body when `content_type` is `multipart/form-data` with a boundary; `None` otherwise.
pub(super) fn parse(content_type: &str, body: &[u8]) -> Option<Form> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let boundary =
        params.split(';').find_map(|p| p.trim().strip_prefix("boundary="))?.trim_matches('"');
    let delimiter = format!("--{boundary}").into_bytes();
    let mut form = Form::default();
    let mut rest = body.get(find(body, &delimiter)? + delimiter.len()..)?;
    loop {
        // After a delimiter: `--` ends the form, a line break starts a part.
        if rest.starts_with(b"--") {
            return Some(form);
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let next = find(rest, &delimiter)?;
        let part = rest.get(..next)?;
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        let headers_end = find(part, b"\r\n\r\n")?;
        let headers = String::from_utf8_lossy(part.get(..headers_end)?).into_owned();
        let value = part.get(headers_end + 4..)?.to_vec();
        let disposition = headers
            .split("\r\n")
            .find(|h| h.to_ascii_lowercase().starts_with("content-disposition:"))?;
        let name = parameter(disposition, "name")?;
        match parameter(disposition, "filename") {
            Some(filename) => form.files.push(FakeFile { field: name, filename, bytes: value }),
            None if name == "payload_json" => form.payload = Some(value),
            None => {}
        }
        rest = rest.get(next + delimiter.len()..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn a_twilight_style_form_parses() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"payload_json\"\r\nContent-Type: application/json\r\n\r\n{\"a\":1}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"files[0]\"; filename=\"c.png\"\r\n\r\n\x89PNG\r\n--X\r\n--XyZ--";
        let form = parse("multipart/form-data; boundary=XyZ", body).expect("a form");
        assert_eq!(form.payload.as_deref(), Some(&b"{\"a\":1}"[..]));
        assert_eq!(form.files.len(), 1);
        assert_eq!(form.files[0].filename, "c.png");
        assert_eq!(form.files[0].bytes, b"\x89PNG\r\n--X");
        assert!(parse("application/json", b"{}").is_none());
    }
}
