# What the hetzner provider reads back after every apply.

output "server_id" {
  value       = var.server_enabled ? hcloud_server.this[0].id : ""
  description = "Empty while paused."
}

output "ipv4_address" {
  value       = var.server_enabled ? hcloud_server.this[0].ipv4_address : ""
  description = "The server's public address."
}

output "private_ip" {
  value       = local.private_ip
  description = "The server's address in its subnet (reached over the mesh route)."
}

output "subnet" {
  value       = local.subnet
  description = "10.100.n.0/24: the network the mesh route points at."
}

output "volume_id" {
  value       = hcloud_volume.data.id
  description = "The persistent data volume."
}
