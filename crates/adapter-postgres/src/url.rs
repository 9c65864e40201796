//! Connection URLs as people may see them: the password masked.

/// What replaces a password in a URL shown to people.
const MASK: &str = "***";

/// `url` with its password (in the user info or a `password=` query parameter) replaced by
/// `***`. Works on text that is not a valid URL too: a bad URL is reported with this.
pub(crate) fn mask_password(url: &str) -> String {
    let (before_query, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let mut out = match before_query.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            // The last '@' ends the user info: a password may itself hold an '@'.
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{user}:{MASK}@{host}"),
                    None => format!("{userinfo}@{host}"),
                },
                None => authority.to_owned(),
            };
            format!("{scheme}://{authority}{path}")
        }
        None => before_query.to_owned(),
    };
    if let Some(query) = query {
        out.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((name, _)) if name.eq_ignore_ascii_case("password") => {
                    format!("{name}={MASK}")
                }
                _ => param.to_owned(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

/// `url` naming database `database` instead of its own (the path), query kept.
#[cfg(feature = "test-support")]
pub(crate) fn with_database(url: &str, database: &str) -> String {
    let (before_query, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let base = match before_query.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split('/').next().unwrap_or(rest);
            format!("{scheme}://{authority}/{database}")
        }
        None => format!("{before_query}/{database}"),
    };
    match query {
        Some(query) => format!("{base}?{query}"),
        None => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_password_in_user_info_and_query() {
        assert_eq!(
            mask_password("postgres://app:s3cr@t@db.example:5432/photos?sslmode=require"),
            "postgres://app:***@db.example:5432/photos?sslmode=require"
        );
        assert_eq!(
            mask_password("postgresql://db/photos?user=app&password=hunter2&x=1"),
            "postgresql://db/photos?user=app&password=***&x=1"
        );
        assert_eq!(
            mask_password("postgres://postgres@127.0.0.1:5432/test"),
            "postgres://postgres@127.0.0.1:5432/test"
        );
        assert_eq!(
            mask_password("postgres://u:pw@host"),
            "postgres://u:***@host"
        );
        assert_eq!(mask_password("not a url"), "not a url");
    }

    #[cfg(feature = "test-support")]
    #[test]
    fn swaps_the_database() {
        assert_eq!(
            with_database("postgres://u:p@h:1/test?sslmode=disable", "other"),
            "postgres://u:p@h:1/other?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:1", "other"),
            "postgres://u@h:1/other"
        );
    }
}
