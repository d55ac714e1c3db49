//! Connection strings, read the way their writers mean them: URLs as Prisma
//! (WHATWG) splits them, `key=value` strings as libpq lexes them.

use std::fmt;
use std::time::Duration;

use crate::ConnectError;

/// A parsed connection string. `Debug` never shows the password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Params {
    /// Host names, addresses or unix-socket folders (starting with `/`), in order.
    pub hosts: Vec<String>,
    /// Ports: none (5432), one for every host, or one per host.
    pub ports: Vec<u16>,
    /// Role to connect as (`None`: `postgres`).
    pub user: Option<String>,
    /// Database name (`None`: the user name).
    pub dbname: Option<String>,
    /// Prisma's `schema=`: the session's `search_path`.
    pub schema: Option<String>,
    /// libpq `options` (sent at startup, e.g. `-c statement_timeout=5s`).
    pub options: Option<String>,
    /// `connect_timeout` in seconds (Prisma's too), else [`crate::DEFAULT_CONNECT_TIMEOUT`].
    pub connect_timeout: Option<Duration>,
    /// `target_session_attrs=read-write`.
    pub read_write: bool,
    password: Option<String>,
}

impl Params {
    /// The password, if the string holds one. Never print it.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// Sets the password (for a caller that gets it from elsewhere).
    pub fn set_password(&mut self, password: Option<String>) {
        self.password = password;
    }

    /// The role to connect as: `user`, else `postgres`.
    pub fn user_or_default(&self) -> &str {
        self.user.as_deref().unwrap_or("postgres")
    }

    /// The database: `dbname`, else the user name (libpq's default).
    pub fn dbname_or_default(&self) -> &str {
        self.dbname.as_deref().unwrap_or_else(|| self.user_or_default())
    }
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Params")
            .field("hosts", &self.hosts)
            .field("ports", &self.ports)
            .field("user", &self.user)
            .field("dbname", &self.dbname)
            .field("schema", &self.schema)
            .field("options", &self.options)
            .field("connect_timeout", &self.connect_timeout)
            .field("read_write", &self.read_write)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Parameters that only configure a client-side pool or TLS material; with
/// a single plain connection they change nothing, so they are accepted and
/// ignored (Prisma's `connection_limit`, `pool_timeout`, `pgbouncer`,
/// `socket_timeout`, `statement_cache_size`, `sslaccept`, `sslcert`, ...;
/// libpq's `fallback_application_name` and TLS files).
const IGNORED: [&str; 17] = [
    "connection_limit",
    "pool_timeout",
    "pgbouncer",
    "socket_timeout",
    "statement_cache_size",
    "sslaccept",
    "sslcert",
    "sslidentity",
    "sslpassword",
    "sslkey",
    "sslrootcert",
    "sslcrl",
    "sslcompression",
    "sslsni",
    "application_name",
    "fallback_application_name",
    "max_idle_connection_lifetime",
];

/// Reads a `postgres://` / `postgresql://` URL or a libpq `key=value` string.
/// Errors name the part that is wrong, never a value.
pub fn parse(conninfo: &str) -> Result<Params, ConnectError> {
    let trimmed = conninfo.trim();
    let pairs = if let Some(rest) = strip_scheme(trimmed) {
        url_pairs(rest)?
    } else if trimmed.contains('=') {
        keyword_pairs(trimmed)?
    } else {
        return Err(invalid(
            "it is neither a postgres:// URL nor a libpq `key=value` string (e.g. postgresql://user:password@host:5432/db)",
        ));
    };
    let mut params = Params::default();
    let mut host_from_query = false;
    for (key, value, from_query) in pairs {
        apply(&mut params, &key, value, from_query, &mut host_from_query)?;
    }
    if params.hosts.is_empty() {
        return Err(invalid("it names no host: add one (postgresql://user@HOST:5432/db, or host=/run/postgresql)"));
    }
    if params.ports.len() > 1 && params.ports.len() != params.hosts.len() {
        return Err(invalid("it names more ports than hosts (or fewer, but more than one)"));
    }
    Ok(params)
}

fn strip_scheme(s: &str) -> Option<&str> {
    let lower = s.get(..13).unwrap_or(s).to_ascii_lowercase();
    if lower.starts_with("postgresql://") {
        Some(&s[13..])
    } else if lower.starts_with("postgres://") {
        Some(&s[11..])
    } else {
        None
    }
}

pub(crate) fn invalid(why: &str) -> ConnectError {
    ConnectError::Invalid(why.to_owned())
}

fn apply(
    params: &mut Params,
    key: &str,
    value: String,
    from_query: bool,
    host_from_query: &mut bool,
) -> Result<(), ConnectError> {
    let bad_value = |what: &str| ConnectError::Invalid(format!("the value of `{key}` is not {what}"));
    match key {
        "host" => {
            // A query's `host=` replaces the URL's hosts (libpq: last wins).
            if from_query && !*host_from_query {
                params.hosts.clear();
                *host_from_query = true;
            } else if !from_query {
                params.hosts.clear();
            }
            params.hosts.extend(value.split(',').map(str::to_owned).filter(|h| !h.is_empty()));
        }
        "hostaddr" => {
            if !from_query || !*host_from_query {
                params.hosts.clear();
                *host_from_query = from_query;
            }
            for addr in value.split(',').filter(|h| !h.is_empty()) {
                addr.parse::<std::net::IpAddr>().map_err(|_| bad_value("an IP address"))?;
                params.hosts.push(addr.to_owned());
            }
        }
        "port" => {
            params.ports = value
                .split(',')
                .map(|p| if p.is_empty() { Ok(5432) } else { p.parse::<u16>() })
                .collect::<Result<_, _>>()
                .map_err(|_| bad_value("a port number"))?;
        }
        "user" => params.user = Some(value).filter(|v| !v.is_empty()),
        "password" => params.password = Some(value),
        "dbname" => params.dbname = Some(value).filter(|v| !v.is_empty()),
        "schema" => params.schema = Some(value).filter(|v| !v.is_empty()),
        "options" => params.options = Some(value).filter(|v| !v.is_empty()),
        "connect_timeout" => {
            let secs: u64 = value.trim().parse().map_err(|_| bad_value("a whole number of seconds"))?;
            // libpq: 0 means wait forever; drydock always has a bound.
            params.connect_timeout = (secs > 0).then(|| Duration::from_secs(secs));
        }
        "sslmode" => match value.as_str() {
            "disable" | "allow" | "prefer" => {}
            "require" | "verify-ca" | "verify-full" => return Err(ConnectError::TlsRequired(value)),
            _ => return Err(bad_value("one of disable, allow, prefer, require, verify-ca, verify-full")),
        },
        "requiressl" => {
            if value == "1" {
                return Err(ConnectError::TlsRequired("require".into()));
            }
        }
        "gssencmode" => match value.as_str() {
            "disable" | "allow" | "prefer" => {}
            "require" => {
                return Err(invalid(
                    "`gssencmode=require` asks for GSSAPI encryption, which drydock does not support: use gssencmode=disable",
                ))
            }
            _ => return Err(bad_value("one of disable, allow, prefer, require")),
        },
        "target_session_attrs" => match value.as_str() {
            "any" => params.read_write = false,
            "read-write" => params.read_write = true,
            _ => return Err(bad_value("`any` or `read-write`")),
        },
        "client_encoding" => {
            if !value.eq_ignore_ascii_case("utf8") && !value.eq_ignore_ascii_case("utf-8") {
                return Err(bad_value("UTF8 (drydock always talks UTF-8)"));
            }
        }
        "keepalives" | "keepalives_idle" | "keepalives_interval" | "keepalives_count" | "tcp_user_timeout" => {
            value.trim().parse::<u64>().map_err(|_| bad_value("a whole number"))?;
        }
        k if IGNORED.contains(&k) => {}
        "service" | "passfile" => {
            return Err(ConnectError::Invalid(format!(
                "`{key}` is not supported: put the host, user and password in the URL (or DATABASE_URL)"
            )))
        }
        _ => {
            // Named only when it looks like a parameter name, not like a value.
            let shown = if key.len() <= 40 && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                format!(" `{key}`")
            } else {
                String::new()
            };
            return Err(ConnectError::Invalid(format!(
                "unknown connection parameter{shown}: drydock understands libpq's host, port, user, password, dbname, options, sslmode, connect_timeout, target_session_attrs and Prisma's schema, connection_limit, pool_timeout, pgbouncer, socket_timeout"
            )))
        }
    }
    Ok(())
}

/// `(key, value, from the query string)` from the part of a URL after its scheme.
fn url_pairs(rest: &str) -> Result<Vec<(String, String, bool)>, ConnectError> {
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(authority_end);
    let (path, query) = match after.split_once('?') {
        Some((p, q)) => (p, q),
        None => (after, ""),
    };
    let mut pairs = Vec::new();
    let hostlist = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            pairs.push(("user".to_owned(), decode(user, "the user name")?, false));
            if let Some(p) = password {
                pairs.push(("password".to_owned(), decode(p, "the password")?, false));
            }
            hosts
        }
        None => authority,
    };
    let mut hosts = Vec::new();
    let mut ports = Vec::new();
    for hostport in hostlist.split(',') {
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| invalid("an IPv6 host lacks its closing `]`"))?;
            match after {
                "" => (h.to_owned(), None),
                p => (h.to_owned(), Some(p.strip_prefix(':').ok_or_else(|| invalid("text follows an IPv6 host"))?)),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (decode(h, "a host")?, Some(p)),
                None => (decode(hostport, "a host")?, None),
            }
        };
        if !host.is_empty() {
            hosts.push(host);
        }
        if let Some(p) = port.filter(|p| !p.is_empty()) {
            ports.push(p.to_owned());
        }
    }
    if !hosts.is_empty() {
        pairs.push(("host".to_owned(), hosts.join(","), false));
    }
    if !ports.is_empty() {
        pairs.push(("port".to_owned(), ports.join(","), false));
    }
    if let Some(db) = path.strip_prefix('/').filter(|d| !d.is_empty()) {
        pairs.push(("dbname".to_owned(), decode(db, "the database name")?, false));
    }
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(key, "a parameter name")?;
        let value = decode(value, &format!("the value of `{key}`"))?;
        pairs.push((key, value, true));
    }
    Ok(pairs)
}

/// `(key, value, false)` from a libpq `key=value` string: whitespace between
/// pairs, optional spaces around `=`, values bare (backslash escapes the next
/// character) or single-quoted (`\'` and `\\` inside).
fn keyword_pairs(s: &str) -> Result<Vec<(String, String, bool)>, ConnectError> {
    let mut pairs = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            // Never the key itself: with a stray space, it may be part of a password.
            return Err(invalid("a word is not followed by `=` (quote values with spaces: password='a b')"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => return Err(ConnectError::Invalid(format!("the quoted value of `{key}` is not closed"))),
                    Some('\'') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => {
                            return Err(ConnectError::Invalid(format!("the quoted value of `{key}` is not closed")))
                        }
                    },
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    if let Some(escaped) = chars.next() {
                        value.push(escaped);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value, false));
    }
    Ok(pairs)
}

/// Percent-decoding; the result must be UTF-8. `what` names the part in errors.
fn decode(s: &str, what: &str) -> Result<String, ConnectError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let byte = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| ConnectError::Invalid(format!("a `%` escape in {what} is malformed")))?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ConnectError::Invalid(format!("{what} is not UTF-8 once decoded")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Params {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn prisma_urls() {
        let p = ok("postgresql://app:secret@db.internal:6543/shop?schema=public&connection_limit=5&pool_timeout=10&sslmode=prefer&pgbouncer=true&socket_timeout=3&statement_cache_size=0");
        assert_eq!(p.hosts, ["db.internal"]);
        assert_eq!(p.ports, [6543]);
        assert_eq!(p.user.as_deref(), Some("app"));
        assert_eq!(p.password(), Some("secret"));
        assert_eq!(p.dbname.as_deref(), Some("shop"));
        assert_eq!(p.schema.as_deref(), Some("public"));
        assert_eq!(ok("postgres://h/db?schema=my%20s").schema.as_deref(), Some("my s"));
        assert_eq!(ok("postgres://h/db?connect_timeout=3").connect_timeout, Some(Duration::from_secs(3)));
        assert_eq!(ok("postgres://h/db?connect_timeout=0").connect_timeout, None);
    }

    #[test]
    fn sslmode_plain_or_refused() {
        for mode in ["disable", "allow", "prefer"] {
            ok(&format!("postgresql://h/db?sslmode={mode}"));
            ok(&format!("host=h sslmode={mode}"));
        }
        for mode in ["require", "verify-ca", "verify-full"] {
            let err = parse(&format!("postgresql://h/db?sslmode={mode}")).unwrap_err();
            assert!(matches!(err, ConnectError::TlsRequired(ref m) if m == mode), "{err}");
            assert!(err.to_string().contains("TLS"), "{err}");
        }
        assert!(matches!(parse("postgresql://h/db?sslmode=bogus"), Err(ConnectError::Invalid(_))));
    }

    #[test]
    fn passwords_in_every_place() {
        let hard = "p$a{s}s w'rd@:/?#%\\";
        let encoded: String = hard.bytes().map(|b| format!("%{b:02X}")).collect();
        assert_eq!(ok(&format!("postgresql://u:{encoded}@h/db")).password(), Some(hard));
        assert_eq!(ok(&format!("postgresql://u@h/db?password={encoded}")).password(), Some(hard));
        // Unencoded `@` and `?` in the password: the last `@` ends the user info (as Prisma reads it).
        let p = ok("postgresql://u:p@ss$w{rd}@h:5432/db");
        assert_eq!((p.password(), p.hosts.as_slice()), (Some("p@ss$w{rd}"), &["h".to_owned()][..]));
        let p = ok(r"host=h user=u password='p$a{s}s w\'rd\\' dbname=d");
        assert_eq!(p.password(), Some("p$a{s}s w'rd\\"));
        assert_eq!(ok(r"host=h password=a\ b").password(), Some("a b"));
        assert_eq!(ok("host = h  password =  x").password(), Some("x"));
        assert!(!format!("{p:?}").contains("w'rd"));
    }

    #[test]
    fn keyword_strings() {
        let p = ok("host=/run/postgresql port=5433 user=me dbname='my db' connect_timeout=4 application_name=x");
        assert_eq!(p.hosts, ["/run/postgresql"]);
        assert_eq!(p.ports, [5433]);
        assert_eq!(p.dbname.as_deref(), Some("my db"));
        assert_eq!(p.connect_timeout, Some(Duration::from_secs(4)));
        assert_eq!(p.dbname_or_default(), "my db");
        assert_eq!(ok("host=h user=bob").dbname_or_default(), "bob");
        assert!(matches!(parse("host=h password='open"), Err(ConnectError::Invalid(_))));
        assert!(matches!(parse("host=h junk"), Err(ConnectError::Invalid(_))));
    }

    #[test]
    fn hosts_ports_and_sockets() {
        let p = ok("postgresql://u@[::1]:5433,other:5434/db?target_session_attrs=read-write");
        assert_eq!(p.hosts, ["::1", "other"]);
        assert_eq!(p.ports, [5433, 5434]);
        assert!(p.read_write);
        assert_eq!(ok("postgresql://%2Fvar%2Frun%2Fpostgresql/db").hosts, ["/var/run/postgresql"]);
        assert_eq!(ok("postgresql:///db?host=/tmp").hosts, ["/tmp"]);
        assert_eq!(ok("postgresql://ignored/db?host=a&host=b").hosts, ["a", "b"]);
        assert_eq!(ok("POSTGRES://h").hosts, ["h"]);
        assert!(matches!(parse("postgresql:///db"), Err(ConnectError::Invalid(_))));
        assert!(matches!(parse("postgresql://h:notaport/db"), Err(ConnectError::Invalid(_))));
        assert!(matches!(parse("mysql://h/db"), Err(ConnectError::Invalid(_))));
    }

    #[test]
    fn errors_never_echo_values() {
        let secret = "S3cr3tValue";
        for s in [
            format!("postgresql://u:{secret}@h/db?bogus={secret}"),
            format!("postgresql://u:{secret}@h:{secret}/db"),
            format!("postgresql://u:{secret}%zz@h/db"),
            format!("host=h password={secret} sslmode={secret}"),
            format!("host=h password='{secret}"),
            format!("host=h port={secret}"),
            format!("{secret}"),
            format!("postgresql://u:{secret}@h/db?sslmode=require"),
        ] {
            let err = parse(&s).unwrap_err().to_string();
            assert!(!err.contains(secret), "{err}");
        }
        let err = parse("postgresql://h/db?schemaa=x").unwrap_err().to_string();
        assert!(err.contains("unknown connection parameter `schemaa`"), "{err}");
    }
}
