//! The web UI's files, served from `<dashboards_dir>/web/` (no CDN, no
//! build step at run time).
//!
//! A request path can never name a file outside that directory: it is
//! split into components, anything that is not a plain name (`..`, `.`,
//! hidden files, backslashes, drive prefixes, NUL) is refused, and the
//! resolved file must still lie inside the canonical web directory after
//! symlinks are followed.

use std::path::{Component, Path, PathBuf};

/// Headers on every UI answer. The CSP allows only the service's own
/// scripts and styles: no inline script, no eval, no CDN.
pub const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("X-Content-Type-Options", "nosniff"),
    (
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
    ),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
];

pub const INDEX_FILE: &str = "index.html";

#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error("no such file: {0}")]
    NotFound(String),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Asset {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
}

pub fn web_dir(dashboards_dir: &Path) -> PathBuf {
    dashboards_dir.join("web")
}

/// The file a request path names inside `web_dir`, if it is a plain
/// relative path to an existing file there.
pub fn resolve(web_dir: &Path, request_path: &str) -> Result<PathBuf, AssetError> {
    let not_found = || AssetError::NotFound(request_path.to_string());
    if request_path.contains(['\\', '\0', ':']) {
        return Err(not_found());
    }
    let mut relative = PathBuf::new();
    for part in request_path.split('/').filter(|part| !part.is_empty()) {
        let mut components = Path::new(part).components();
        let plain = matches!(
            (components.next(), components.next()),
            (Some(Component::Normal(_)), None)
        );
        if !plain || part.starts_with('.') {
            return Err(not_found());
        }
        relative.push(part);
    }
    if relative.as_os_str().is_empty() {
        return Err(not_found());
    }
    let root = web_dir.canonicalize().map_err(|_| not_found())?;
    let file = root
        .join(&relative)
        .canonicalize()
        .map_err(|_| not_found())?;
    if !file.starts_with(&root) || !file.is_file() {
        return Err(not_found());
    }
    Ok(file)
}

pub fn read(web_dir: &Path, request_path: &str) -> Result<Asset, AssetError> {
    let path = resolve(web_dir, request_path)?;
    let bytes = std::fs::read(&path).map_err(|source| AssetError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(Asset {
        bytes,
        content_type: content_type(&path),
    })
}

pub fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|extension| extension.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff") => "font/woff",
        Some("woff2") => "font/woff2",
        Some("ttf") => "font/ttf",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let web = dir.path().join("web");
        std::fs::create_dir_all(web.join("js")).expect("mkdir");
        std::fs::write(web.join("index.html"), "<!doctype html>").expect("write");
        std::fs::write(web.join("js/app.js"), "export {}").expect("write");
        std::fs::write(web.join(".secret"), "no").expect("write");
        std::fs::write(dir.path().join("outside.txt"), "outside").expect("write");
        dir
    }

    #[test]
    fn plain_paths_resolve_with_their_content_type() {
        let dir = fixture();
        let web = web_dir(dir.path());
        let asset = read(&web, "js/app.js").expect("found");
        assert_eq!(asset.bytes, b"export {}");
        assert_eq!(asset.content_type, "text/javascript; charset=utf-8");
        assert_eq!(
            read(&web, "index.html").expect("found").content_type,
            "text/html; charset=utf-8"
        );
    }

    #[test]
    fn nothing_outside_the_web_directory_is_reachable() {
        let dir = fixture();
        let web = web_dir(dir.path());
        for path in [
            "../outside.txt",
            "js/../../outside.txt",
            "./index.html",
            ".secret",
            "js\\..\\..\\outside.txt",
            "/etc/passwd",
            "C:/outside.txt",
            "",
            "js",
            "missing.js",
        ] {
            let outcome = resolve(&web, path);
            if path == "/etc/passwd" {
                // A leading slash is only an empty first component: it names web/etc/passwd.
                assert!(outcome.is_err(), "{path}");
                continue;
            }
            assert!(
                matches!(outcome, Err(AssetError::NotFound(_))),
                "{path}: {outcome:?}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_out_of_the_web_directory_is_refused() {
        let dir = fixture();
        let web = web_dir(dir.path());
        std::os::unix::fs::symlink(dir.path().join("outside.txt"), web.join("link.txt"))
            .expect("symlink");
        assert!(resolve(&web, "link.txt").is_err());
    }
}
