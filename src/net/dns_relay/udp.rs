//! The relay over UDP: queries answered locally are sent at once; the
//! others are resolved in tasks that die with the serving task.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::Message;
use tokio::net::UdpSocket;
use tokio::task::JoinSet;

use crate::net::destroyed;

use super::resolve::{Resolver, Triage};
use super::wire::{encode, parse_query, udp_limit, TCP_LIMIT};

/// Serves queries arriving on `socket` until dropped or destroyed.
/// Datagrams that are not queries are ignored.
pub(super) async fn serve(socket: UdpSocket, resolver: Arc<Resolver>) {
    let socket = Arc::new(socket);
    let mut forwarding = JoinSet::new();
    let mut buffer = vec![0u8; TCP_LIMIT];
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buffer) => {
                let (length, client) = match received {
                    Ok(received) => received,
                    Err(e) if destroyed::datagram_socket_destroyed(&e) => return,
                    Err(_) => continue,
                };
                let Some(request) = parse_query(&buffer[..length]) else { continue };
                match resolver.triage(&request) {
                    Triage::Answer(response) => reply(&socket, client, &request, &response).await,
                    Triage::Forward(slot) => {
                        let (socket, resolver) = (socket.clone(), resolver.clone());
                        forwarding.spawn(async move {
                            let response = resolver.forward(&request).await;
                            drop(slot);
                            reply(&socket, client, &request, &response).await;
                        });
                    }
                }
            }
            Some(_) = forwarding.join_next() => {}
        }
    }
}

async fn reply(socket: &UdpSocket, client: SocketAddr, request: &Message, response: &Message) {
    if let Some(bytes) = encode(request, response, udp_limit(request)) {
        let _ = socket.send_to(&bytes, client).await;
    }
}
