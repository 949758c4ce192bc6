//! The relay over TCP: length-framed queries, several per connection,
//! answered in order; a connection closes when idle, on a malformed message,
//! or past the connection bound.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::net::destroyed;

use super::framing::{read_frame, write_frame};
use super::resolve::{Resolver, Triage};
use super::wire::{encode, parse_query, TCP_LIMIT};

/// How long a connection may take to send its next query, or to take an
/// answer, before the relay closes it (RFC 7766 asks for seconds).
const IDLE: Duration = Duration::from_secs(10);

/// Pause after a failed accept (out of descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves connections on `listener` until dropped or destroyed.
pub(super) async fn serve(listener: TcpListener, resolver: Arc<Resolver>) {
    let slots = Arc::new(Semaphore::new(resolver.max_in_flight()));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    if let Ok(slot) = slots.clone().try_acquire_owned() {
                        connections.spawn(connection(stream, resolver.clone(), slot));
                    }
                }
                Err(e) if destroyed::listener_destroyed(&e) => return,
                Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
            },
            Some(_) = connections.join_next() => {}
        }
    }
}

async fn connection(mut stream: TcpStream, resolver: Arc<Resolver>, _slot: OwnedSemaphorePermit) {
    while let Ok(Ok(Some(frame))) = tokio::time::timeout(IDLE, read_frame(&mut stream)).await {
        let Some(request) = parse_query(&frame) else {
            return;
        };
        let response = match resolver.triage(&request) {
            Triage::Answer(response) => response,
            Triage::Forward(_slot) => resolver.forward(&request).await,
        };
        let Some(bytes) = encode(&request, &response, TCP_LIMIT) else {
            return;
        };
        let written = tokio::time::timeout(IDLE, write_frame(&mut stream, &bytes)).await;
        if !matches!(written, Ok(Ok(()))) {
            return;
        }
    }
}
