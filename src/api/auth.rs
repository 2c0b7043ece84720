//! Authorisation as a handler argument: `Authorised<Read>` resolves the
//! caller's key (`Authorization: Bearer <key>`, or `X-Api-Key`), checks the
//! scope and the key's request budget, and hands the handler the key's
//! tenant. Handlers reach tenant data only through it, so a handler that
//! forgets authorisation does not compile rather than leaking.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};

use super::error::{internal, ApiError};
use super::AppState;
use crate::auth::Scope;
use crate::tenants::TenantRuntime;

pub trait RequiredScope {
    const SCOPE: Scope;
}

/// Send feedback.
pub struct Ingest;
/// Read and export a tenant's data; work its follow-up queue.
pub struct Read;
/// Manage the tenant's keys.
pub struct Admin;

impl RequiredScope for Ingest {
    const SCOPE: Scope = Scope::Ingest;
}
impl RequiredScope for Read {
    const SCOPE: Scope = Scope::Read;
}
impl RequiredScope for Admin {
    const SCOPE: Scope = Scope::Admin;
}

pub struct Authorised<S> {
    pub tenant: Arc<TenantRuntime>,
    scope: PhantomData<S>,
}

impl<S> Deref for Authorised<S> {
    type Target = TenantRuntime;

    fn deref(&self) -> &TenantRuntime {
        &self.tenant
    }
}

/// The key a request presents: a bearer token, else `X-Api-Key`.
pub fn presented_key(request: &HttpRequest) -> Option<&str> {
    let headers = request.headers();
    if let Some(value) = headers
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
    {
        let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim());
    }
    headers
        .get("x-api-key")
        .and_then(|value| value.to_str().ok())
}

/// Resolves the key and the tenant on a blocking thread: both touch SQLite,
/// and a tenant's first request opens its database and index.
async fn authorise<S: RequiredScope>(
    state: Option<web::Data<AppState>>,
    presented: Option<String>,
) -> Result<Authorised<S>, ApiError> {
    let state = state.ok_or_else(|| internal("application state missing"))?;
    let tenant = super::blocking(move || -> Result<_, ApiError> {
        let principal =
            state
                .auth
                .authenticate(presented.as_deref(), S::SCOPE, crate::time::now_unix())?;
        Ok(state.tenants.get(&principal.tenant)?)
    })
    .await?;
    Ok(Authorised {
        tenant,
        scope: PhantomData,
    })
}

impl<S: RequiredScope + 'static> FromRequest for Authorised<S> {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = request.app_data::<web::Data<AppState>>().cloned();
        let presented = presented_key(request).map(str::to_string);
        Box::pin(authorise(state, presented))
    }
}
