//! The access log, in eventlet's `log_format` (Nova's `wsgi_log_format`).

use std::fmt::{self, Write as _};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, StatusCode, Uri, Version};
use http_body::{Frame, SizeHint};

use crate::app::{App, Response};
use crate::body::{Body, BoxError};
use crate::filter::Filter;
use crate::request::Request;

/// Nova's default access-log format.
pub const NOVA_LOG_FORMAT: &str =
    "%(client_ip)s \"%(request_line)s\" status: %(status_code)s len: %(body_length)s time: %(wall_seconds).7f";

/// The `tracing` target access-log lines are written to.
pub const TARGET: &str = "rsgi::access";

/// A parsed Python `%`-style log format over eventlet's fields:
/// `client_ip`, `date_time`, `request_line`, `status_code`, `body_length`,
/// `wall_seconds`.
///
/// Conversions `s`, `d`, `f` with optional `-` flag, width and precision
/// are supported, and `%%`.
///
/// # Examples
///
/// ```
/// use rsgi::filters::LogFormat;
///
/// assert!(LogFormat::parse(rsgi::filters::request_log::NOVA_LOG_FORMAT).is_ok());
/// let err = LogFormat::parse("%(client)s").unwrap_err();
/// assert_eq!(err.to_string(), "unknown log field `client`; known fields: `client_ip`, `date_time`, `request_line`, `status_code`, `body_length`, `wall_seconds`");
/// ```
#[derive(Clone, Debug)]
pub struct LogFormat {
    pieces: Vec<Piece>,
}

#[derive(Clone, Debug)]
enum Piece {
    Text(String),
    Field(Field, Spec),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    ClientIp,
    DateTime,
    RequestLine,
    StatusCode,
    BodyLength,
    WallSeconds,
}

const FIELDS: [(&str, Field); 6] = [
    ("client_ip", Field::ClientIp),
    ("date_time", Field::DateTime),
    ("request_line", Field::RequestLine),
    ("status_code", Field::StatusCode),
    ("body_length", Field::BodyLength),
    ("wall_seconds", Field::WallSeconds),
];

#[derive(Clone, Copy, Debug, Default)]
struct Spec {
    left: bool,
    width: usize,
    precision: Option<usize>,
    conversion: char,
}

/// Why a log format was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormatError {
    /// `%(name)…` with a name that is not a field.
    UnknownField(String),
    /// A `%` not followed by `%` or a valid `(name)conversion`.
    BadDirective(usize),
}

impl fmt::Display for LogFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogFormatError::UnknownField(name) => {
                write!(f, "unknown log field `{name}`; known fields: ")?;
                let names: Vec<String> = FIELDS.iter().map(|(n, _)| format!("`{n}`")).collect();
                f.write_str(&names.join(", "))
            }
            LogFormatError::BadDirective(at) => {
                write!(f, "bad `%` directive at byte {at}: expected `%%` or `%(field)s`, `%(field)d`, `%(field).Nf`")
            }
        }
    }
}

impl std::error::Error for LogFormatError {}

impl LogFormat {
    /// Parses `format`.
    ///
    /// # Errors
    ///
    /// An unknown field name or a malformed directive.
    pub fn parse(format: &str) -> Result<Self, LogFormatError> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = format;
        while let Some(at) = rest.find('%') {
            text.push_str(&rest[..at]);
            let offset = format.len() - rest.len() + at;
            rest = &rest[at + 1..];
            if let Some(r) = rest.strip_prefix('%') {
                text.push('%');
                rest = r;
                continue;
            }
            let bad = || LogFormatError::BadDirective(offset);
            let r = rest.strip_prefix('(').ok_or_else(bad)?;
            let close = r.find(')').ok_or_else(bad)?;
            let name = &r[..close];
            let field = FIELDS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, f)| *f)
                .ok_or_else(|| LogFormatError::UnknownField(name.to_owned()))?;
            let mut r = &r[close + 1..];
            let mut spec = Spec::default();
            if let Some(x) = r.strip_prefix('-') {
                spec.left = true;
                r = x;
            }
            let digits = r.bytes().take_while(u8::is_ascii_digit).count();
            spec.width = r[..digits].parse().unwrap_or(0);
            r = &r[digits..];
            if let Some(x) = r.strip_prefix('.') {
                let digits = x.bytes().take_while(u8::is_ascii_digit).count();
                spec.precision = Some(x[..digits].parse().unwrap_or(0));
                r = &x[digits..];
            }
            let conversion = r.chars().next().filter(|c| matches!(c, 's' | 'd' | 'f')).ok_or_else(bad)?;
            spec.conversion = conversion;
            rest = &r[1..];
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(Piece::Field(field, spec));
        }
        text.push_str(rest);
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(LogFormat { pieces })
    }

    /// Formats one access-log line.
    pub fn format(&self, entry: &LogEntry<'_>) -> String {
        let mut out = String::with_capacity(96);
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(field, spec) => write_field(&mut out, *field, *spec, entry),
            }
        }
        out
    }
}

impl Default for LogFormat {
    fn default() -> Self {
        LogFormat::parse(NOVA_LOG_FORMAT).unwrap_or(LogFormat { pieces: Vec::new() })
    }
}

/// What one access-log line is made of.
#[derive(Clone, Debug)]
pub struct LogEntry<'a> {
    /// The client's address.
    pub client: Option<SocketAddr>,
    /// The request method.
    pub method: &'a Method,
    /// The request target.
    pub uri: &'a Uri,
    /// The HTTP version.
    pub version: Version,
    /// The response status.
    pub status: StatusCode,
    /// Bytes of response body sent.
    pub body_length: u64,
    /// Time from the request's arrival to the end of the response.
    pub wall_seconds: f64,
}

fn write_field(out: &mut String, field: Field, spec: Spec, e: &LogEntry<'_>) {
    let value = match field {
        Field::ClientIp => Value::Text(e.client.map_or_else(|| "-".to_owned(), |a| a.ip().to_string())),
        Field::DateTime => Value::Text(http_date_time(SystemTime::now())),
        Field::RequestLine => {
            let target = e.uri.path_and_query().map_or("/", |p| p.as_str());
            Value::Text(format!("{} {} {:?}", e.method, target, e.version))
        }
        Field::StatusCode => Value::Int(i64::from(e.status.as_u16())),
        Field::BodyLength => Value::Int(i64::try_from(e.body_length).unwrap_or(i64::MAX)),
        Field::WallSeconds => Value::Float(e.wall_seconds),
    };
    let text = match (spec.conversion, value) {
        ('f', Value::Float(v)) => format!("{v:.prec$}", prec = spec.precision.unwrap_or(6)),
        ('f', Value::Int(v)) => format!("{:.prec$}", v as f64, prec = spec.precision.unwrap_or(6)),
        ('d', Value::Float(v)) => format!("{}", v.trunc() as i64),
        (_, Value::Int(v)) => v.to_string(),
        (_, Value::Float(v)) => v.to_string(),
        (_, Value::Text(t)) => match spec.precision {
            Some(p) if spec.conversion == 's' => t.chars().take(p).collect(),
            _ => t,
        },
    };
    let pad = spec.width.saturating_sub(text.chars().count());
    if !spec.left {
        out.extend(std::iter::repeat_n(' ', pad));
    }
    out.push_str(&text);
    if spec.left {
        out.extend(std::iter::repeat_n(' ', pad));
    }
}

enum Value {
    Text(String),
    Int(i64),
    Float(f64),
}

/// `25/Nov/2026 01:02:03`, UTC (eventlet's `date_time`).
fn http_date_time(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let mut s = String::with_capacity(20);
    let _ = write!(
        s,
        "{day:02}/{}/{year} {:02}:{:02}:{:02}",
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    s
}

/// The access-log filter factory: one line per request, at `INFO` level on
/// the `rsgi::access` target, once the response body has been sent.
///
/// # Examples
///
/// ```
/// use rsgi::filters::{LogFormat, RequestLogFilter};
/// use rsgi::{app_fn, pipeline};
///
/// let log = RequestLogFilter::new(LogFormat::parse("%(client_ip)s %(status_code)s")?);
/// let _app = pipeline().filter(log).app(app_fn(|_| async { "ok" }));
/// # Ok::<(), rsgi::filters::request_log::LogFormatError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct RequestLogFilter {
    format: std::sync::Arc<LogFormat>,
}

impl RequestLogFilter {
    /// Logs in `format`.
    pub fn new(format: LogFormat) -> Self {
        RequestLogFilter { format: std::sync::Arc::new(format) }
    }
}

/// An app wrapped by [`RequestLogFilter`].
#[derive(Clone, Debug)]
pub struct RequestLog<A> {
    inner: A,
    format: std::sync::Arc<LogFormat>,
}

impl<A: App> Filter<A> for RequestLogFilter {
    type Output = RequestLog<A>;
    fn wrap(&self, inner: A) -> RequestLog<A> {
        RequestLog { inner, format: std::sync::Arc::clone(&self.format) }
    }
}

impl<A: App> App for RequestLog<A> {
    fn call(&self, req: Request) -> impl Future<Output = Response> + Send {
        let line = start(&self.format, &req);
        crate::app::MapFuture::new(self.inner.call(req), move |res| finish(line, res))
    }
}

/// Notes what a log line needs from the request, if access logging is on.
pub(crate) fn start(format: &std::sync::Arc<LogFormat>, req: &Request) -> Option<PendingLine> {
    if !tracing::enabled!(target: TARGET, tracing::Level::INFO) {
        return None;
    }
    Some(PendingLine {
        format: std::sync::Arc::clone(format),
        client: req.remote_addr(),
        method: req.method().clone(),
        uri: req.uri().clone(),
        version: req.version(),
        status: StatusCode::OK,
        start: Instant::now(),
        sent: 0,
    })
}

/// Arranges for the line to be written once the response body is sent.
pub(crate) fn finish(line: Option<PendingLine>, res: Response) -> Response {
    let Some(mut line) = line else {
        return res;
    };
    let (parts, body) = res.into_parts();
    line.status = parts.status;
    Response::from_parts(parts, Body::new(Counting { inner: body, rest: None, line: Some(line) }))
}

/// The parts of a log line known before the body is sent.
pub(crate) struct PendingLine {
    format: std::sync::Arc<LogFormat>,
    client: Option<SocketAddr>,
    method: Method,
    uri: Uri,
    version: Version,
    status: StatusCode,
    start: Instant,
    sent: u64,
}

impl PendingLine {
    /// Writes the line; a response whose body did not reach its end (the
    /// client went away, the connection timed out) is marked
    /// ` (incomplete)`, with the bytes handed to the connection until then.
    fn emit(self, complete: bool) {
        let entry = LogEntry {
            client: self.client,
            method: &self.method,
            uri: &self.uri,
            version: self.version,
            status: self.status,
            body_length: self.sent,
            wall_seconds: self.start.elapsed().as_secs_f64(),
        };
        let line = self.format.format(&entry);
        if complete {
            tracing::info!(target: TARGET, "{line}");
        } else {
            tracing::info!(target: TARGET, "{line} (incomplete)");
        }
    }
}

/// Frames longer than this are handed on in pieces, so that the bytes
/// counted are the bytes the connection took (hyper buffers at most a few
/// pieces ahead of the socket), not a whole in-memory body at once.
const PIECE: usize = 64 * 1024;

/// Counts the body bytes sent and writes the log line at the end of the body
/// (or when the body is dropped early: a client that went away).
struct Counting {
    inner: Body,
    /// The part of a long frame not handed on yet.
    rest: Option<Bytes>,
    line: Option<PendingLine>,
}

impl Counting {
    fn piece(&mut self, mut data: Bytes) -> Bytes {
        if data.len() > PIECE {
            self.rest = Some(data.split_off(PIECE));
        }
        if let Some(line) = self.line.as_mut() {
            line.sent += data.len() as u64;
        }
        data
    }

    fn done(&mut self, complete: bool) {
        if let Some(line) = self.line.take() {
            line.emit(complete);
        }
    }
}

impl http_body::Body for Counting {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = match this.rest.take() {
            Some(rest) => Poll::Ready(Some(Ok(Frame::data(rest)))),
            None => Pin::new(&mut this.inner).poll_frame(cx),
        };
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                let frame = match frame.into_data() {
                    Ok(data) => Frame::data(this.piece(data)),
                    Err(frame) => frame,
                };
                if this.is_end_stream() {
                    this.done(true);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                this.done(true);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.done(false);
                Poll::Ready(Some(Err(e)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let rest = self.rest.as_ref().map_or(0, |r| r.len() as u64);
        let inner = self.inner.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + rest);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + rest);
        }
        hint
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        // hyper sends no body for `HEAD`, 204 and 304 and drops it unpolled.
        let bodiless = self.line.as_ref().is_some_and(|l| {
            l.method == Method::HEAD || l.status == StatusCode::NO_CONTENT || l.status == StatusCode::NOT_MODIFIED
        });
        let complete = bodiless || http_body::Body::is_end_stream(self);
        self.done(complete);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nova_format() {
        let f = LogFormat::default();
        let uri: Uri = "/v2.1/servers?limit=1".parse().unwrap();
        let line = f.format(&LogEntry {
            client: Some("10.0.0.1:5555".parse().unwrap()),
            method: &Method::GET,
            uri: &uri,
            version: Version::HTTP_11,
            status: StatusCode::OK,
            body_length: 15,
            wall_seconds: 0.00123,
        });
        assert_eq!(line, "10.0.0.1 \"GET /v2.1/servers?limit=1 HTTP/1.1\" status: 200 len: 15 time: 0.0012300");
    }

    #[test]
    fn widths_and_escapes() {
        let f = LogFormat::parse("[%(status_code)5d|%(client_ip)-4s] 100%%").unwrap();
        let uri: Uri = "/".parse().unwrap();
        let line = f.format(&LogEntry {
            client: None,
            method: &Method::GET,
            uri: &uri,
            version: Version::HTTP_11,
            status: StatusCode::NOT_FOUND,
            body_length: 0,
            wall_seconds: 0.0,
        });
        assert_eq!(line, "[  404|-   ] 100%");
        assert!(matches!(LogFormat::parse("%(client_ip)x"), Err(LogFormatError::BadDirective(0))));
        assert!(LogFormat::parse("50% off").is_err());
    }

    #[test]
    fn date_time_is_civil() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_795_568_523);
        assert_eq!(http_date_time(t), "25/Nov/2026 01:02:03");
    }
}

crate::settings! {
    /// Settings of [`RequestLogFilter`].
    pub struct RequestLogSettings {
        /// The line format (eventlet's `log_format`); empty for Nova's.
        pub log_format: String = String::new(),
    }
}

impl crate::factory::Factory for RequestLogFilter {
    type Settings = RequestLogSettings;
    type Output = RequestLogFilter;
    /// An invalid format falls back to Nova's, with an error in the log;
    /// check formats with [`LogFormat::parse`] first where that matters.
    fn build(s: RequestLogSettings) -> RequestLogFilter {
        if s.log_format.is_empty() {
            return RequestLogFilter::default();
        }
        match LogFormat::parse(&s.log_format) {
            Ok(f) => RequestLogFilter::new(f),
            Err(e) => {
                tracing::error!(error = %e, "invalid `log_format`; using Nova's");
                RequestLogFilter::default()
            }
        }
    }
}
