//! Refuses requests that a page on another site made a browser send: a
//! login or registration from elsewhere could log the browser into an
//! account the other site controls (login CSRF, API.md "Limits and fairness").

use super::AppState;
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName};

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// Present in a handler's arguments: the request came from this server's
/// own page or from a client that is not a browser on another site.
pub struct SameOrigin;

impl FromRequestParts<AppState> for SameOrigin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        match is_cross_site(&parts.headers, app.public_origin.as_deref()) {
            true => Err(ApiError::CrossSiteRefused),
            false => Ok(SameOrigin),
        }
    }
}

/// `Sec-Fetch-Site` other than `same-origin` or `none` (typed address,
/// bookmark) is refused, `same-site` included: the web page is served from
/// the API's own origin, so only a sibling host, which may hold content that
/// others control, would send it. An `Origin` must be the server's own:
/// the public URL's origin when one is configured, or the host the request
/// was sent to (a browser sets `Host` itself, a page cannot choose it).
fn is_cross_site(headers: &HeaderMap, public_origin: Option<&str>) -> bool {
    let fetch_site = headers.get(SEC_FETCH_SITE).map(|value| value.to_str().unwrap_or_default());
    if fetch_site.is_some_and(|site| !site.eq_ignore_ascii_case("same-origin") && !site.eq_ignore_ascii_case("none")) {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let origin = origin.to_str().unwrap_or_default();
    if public_origin.is_some_and(|own| origin.eq_ignore_ascii_case(own)) {
        return false;
    }
    let host = headers.get(header::HOST).and_then(|value| value.to_str().ok());
    let origin_authority = origin.split_once("://").map(|(_, authority)| authority);
    !matches!((origin_authority, host), (Some(authority), Some(host)) if authority.eq_ignore_ascii_case(host))
}

/// The origin (`scheme://host[:port]`) of a configured public URL.
pub fn origin_of(public_url: &str) -> Option<String> {
    let url = reqwest::Url::parse(public_url).ok()?;
    Some(url.origin().ascii_serialization()).filter(|origin| origin != "null")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (HeaderName::from_static(name), HeaderValue::from_static(value))).collect()
    }

    #[test]
    fn only_the_own_origin_passes() {
        let own = Some("https://mrpt.example.org");
        assert!(!is_cross_site(&headers(&[]), own));
        assert!(!is_cross_site(&headers(&[("sec-fetch-site", "same-origin")]), own));
        assert!(!is_cross_site(&headers(&[("sec-fetch-site", "none")]), own));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "cross-site")]), own));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "same-site")]), own));
        assert!(!is_cross_site(&headers(&[("origin", "https://mrpt.example.org")]), own));
        assert!(is_cross_site(&headers(&[("origin", "https://evil.example")]), own));
        assert!(is_cross_site(&headers(&[("origin", "null")]), own));
        assert!(!is_cross_site(&headers(&[("origin", "http://127.0.0.1:8080"), ("host", "127.0.0.1:8080")]), None));
        assert!(is_cross_site(&headers(&[("origin", "http://127.0.0.1:9999"), ("host", "127.0.0.1:8080")]), None));
    }

    #[test]
    fn a_public_url_names_its_origin() {
        assert_eq!(origin_of("https://mrpt.example.org/app/").as_deref(), Some("https://mrpt.example.org"));
        assert_eq!(origin_of("http://10.0.0.5:8080").as_deref(), Some("http://10.0.0.5:8080"));
        assert_eq!(origin_of("not a url"), None);
    }
}
