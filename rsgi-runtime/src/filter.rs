//! [`Filter`]s (PasteDeploy's `paste.filter_factory`) and static pipelines.

use std::fmt;

use crate::app::App;

/// A filter factory: wraps an [`App`] into another app (tower calls this a
/// layer).
///
/// # Ordering
///
/// **The first filter listed in a pipeline is the outermost: it sees the
/// request first and the response last.** This is PasteDeploy's rule for
/// `pipeline = f1 f2 app` (`f1(f2(app))`) and the order of tower's
/// `ServiceBuilder`.
///
/// ```
/// use rsgi::{App, Filter, Request, Response, pipeline, app_fn};
///
/// /// Appends its name to the `x-trace` header on the way in.
/// struct Trace(&'static str);
/// struct Traced<A>(&'static str, A);
///
/// impl<A: App> Filter<A> for Trace {
///     type Output = Traced<A>;
///     fn wrap(&self, inner: A) -> Traced<A> {
///         Traced(self.0, inner)
///     }
/// }
///
/// impl<A: App> App for Traced<A> {
///     async fn call(&self, mut req: Request) -> Response {
///         let seen = req.headers().get("x-trace").map(|v| v.to_str().unwrap().to_owned());
///         let trace = match seen { Some(t) => format!("{t} {}", self.0), None => self.0.to_owned() };
///         req.headers_mut().insert("x-trace", trace.parse().unwrap());
///         self.1.call(req).await
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), rsgi::BoxError> {
/// let echo = app_fn(|req: Request| async move {
///     req.headers()["x-trace"].to_str().unwrap().to_owned()
/// });
/// // pipeline = first second echo
/// let app = pipeline().filter(Trace("first")).filter(Trace("second")).app(echo);
/// let body = app.call(Request::get("/")).await.into_body().collect_bytes().await?;
/// assert_eq!(body, "first second");
/// # Ok(())
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an rsgi filter for `{A}`",
    label = "expected a filter here",
    note = "a filter implements `rsgi::Filter<A>` (`fn wrap(&self, inner: A) -> Self::Output`); \
            wrap a tower layer with `rsgi::tower::LayerFilter`"
)]
pub trait Filter<A> {
    /// The app this filter makes out of `A`.
    type Output: App;

    /// Wraps `inner`.
    fn wrap(&self, inner: A) -> Self::Output;
}

impl<A, F: Filter<A>> Filter<A> for &F {
    type Output = F::Output;
    fn wrap(&self, inner: A) -> F::Output {
        (**self).wrap(inner)
    }
}

/// The filter that wraps nothing: `Identity.wrap(app)` is `app`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Identity;

impl<A: App> Filter<A> for Identity {
    type Output = A;
    fn wrap(&self, inner: A) -> A {
        inner
    }
}

/// Two filters in a row: `Inner` wraps the app first, `Outer` wraps the
/// result, so `Outer` sees the request first.
#[derive(Clone, Copy, Default)]
pub struct Stack<Inner, Outer> {
    inner: Inner,
    outer: Outer,
}

impl<Inner, Outer> Stack<Inner, Outer> {
    /// Stacks `outer` around `inner`.
    pub const fn new(inner: Inner, outer: Outer) -> Self {
        Stack { inner, outer }
    }
}

impl<A, Inner, Outer> Filter<A> for Stack<Inner, Outer>
where
    Inner: Filter<A>,
    Outer: Filter<Inner::Output>,
{
    type Output = Outer::Output;
    fn wrap(&self, app: A) -> Self::Output {
        self.outer.wrap(self.inner.wrap(app))
    }
}

/// Lists the filters of a stack outermost first, for `Debug`.
trait FilterList {
    fn entries<'a>(&'a self, list: &mut Vec<&'a dyn fmt::Debug>);
}

impl FilterList for Identity {
    fn entries<'a>(&'a self, _: &mut Vec<&'a dyn fmt::Debug>) {}
}

impl<Inner: fmt::Debug, Outer: FilterList> FilterList for Stack<Inner, Outer> {
    fn entries<'a>(&'a self, list: &mut Vec<&'a dyn fmt::Debug>) {
        self.outer.entries(list);
        list.push(&self.inner);
    }
}

/// Prints the filters outermost first, as a flat list, when the stack was
/// built by [`pipeline`]; otherwise as the nested pair it is.
impl<Inner: fmt::Debug, Outer: fmt::Debug> fmt::Debug for Stack<Inner, Outer> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stack").field("inner", &self.inner).field("outer", &self.outer).finish()
    }
}

/// A pipeline being built: filters listed outermost first, then the app.
///
/// Made by [`pipeline`]. The result of [`Pipeline::app`] is an ordinary
/// nested app type, such as `RequestId<FaultWrap<Servers>>`.
#[derive(Clone, Copy, Default)]
pub struct Pipeline<L> {
    filters: L,
}

/// Starts a pipeline: `pipeline().filter(f1).filter(f2).app(app)` is
/// PasteDeploy's `pipeline = f1 f2 app`, that is `f1(f2(app))`.
pub const fn pipeline() -> Pipeline<Identity> {
    Pipeline { filters: Identity }
}

impl<L> Pipeline<L> {
    /// Adds a filter inside the ones listed so far.
    pub fn filter<F>(self, filter: F) -> Pipeline<Stack<F, L>> {
        Pipeline { filters: Stack::new(filter, self.filters) }
    }

    /// Ends the pipeline with its app.
    pub fn app<A>(self, app: A) -> L::Output
    where
        L: Filter<A>,
    {
        self.filters.wrap(app)
    }

    /// The filters, as one stacked filter.
    pub fn into_filter(self) -> L {
        self.filters
    }
}

impl<L: FilterList> fmt::Debug for Pipeline<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = Vec::new();
        self.filters.entries(&mut list);
        f.debug_tuple("Pipeline").field(&DebugList(list)).finish()
    }
}

struct DebugList<'a>(Vec<&'a dyn fmt::Debug>);

impl fmt::Debug for DebugList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    #[allow(dead_code)] // read through `Debug` only
    struct Named(&'static str);

    #[test]
    fn pipeline_debug_lists_filters_outermost_first() {
        let p = pipeline().filter(Named("a")).filter(Named("b")).filter(Named("c"));
        assert_eq!(format!("{p:?}"), r#"Pipeline([Named("a"), Named("b"), Named("c")])"#);
    }
}
