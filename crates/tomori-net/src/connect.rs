//! The connect-time peer check: a connector layer that judges the address every new connection
//! actually reached, before hyper writes a byte of the request on it.
//!
//! This is the backstop behind the URL check and the checked resolver. It also covers the
//! `reqwest::Client` that [`crate::Client::reqwest_client`] hands to other crates (rmcp, LLM
//! adapters), whose URLs we never see: an IP-literal URL there skips the resolver, but not this.
//! It cannot stop the TCP (and TLS) handshake itself, only the request, so it does not replace
//! checking URLs up front.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use hyper_util::client::legacy::connect::{Connection, HttpInfo};

use crate::policy::{Policy, Reason, Refusal};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Wraps reqwest's connector with [`PeerGuard`].
#[derive(Clone, Debug)]
pub(crate) struct PeerGuardLayer {
    policy: Arc<Policy>,
}

impl PeerGuardLayer {
    pub(crate) fn new(policy: Arc<Policy>) -> Self {
        PeerGuardLayer { policy }
    }
}

impl<S> tower_layer::Layer<S> for PeerGuardLayer {
    type Service = PeerGuard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PeerGuard { inner, policy: Arc::clone(&self.policy) }
    }
}

/// Judges the remote address of each connection the inner connector makes.
#[derive(Clone, Debug)]
pub(crate) struct PeerGuard<S> {
    inner: S,
    policy: Arc<Policy>,
}

impl<S, Request> tower_service::Service<Request> for PeerGuard<S>
where
    S: tower_service::Service<Request, Error = BoxError>,
    S::Response: Connection + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let connecting = self.inner.call(request);
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let conn = connecting.await?;
            let mut extras = http::Extensions::new();
            conn.connected().get_extras(&mut extras);
            // Security: SSRF that got past the URL check (an IP literal in a URL we never saw, a
            // resolver bug). The peer is judged on the socket itself; a connection whose peer we
            // cannot read is refused rather than trusted.
            let Some(info) = extras.get::<HttpInfo>() else {
                return Err(Refusal::new(Reason::UnknownPeer, None, None).into());
            };
            policy.check_ip(info.remote_addr().ip())?;
            Ok(conn)
        })
    }
}
