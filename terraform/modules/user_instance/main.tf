# One user's workstation on Hetzner: a private network 10.100.n.0/24, a persistent 20 GB volume
# that outlives the server (pause destroys the server only), and the server itself, set up by
# cloud-init with the same setup.sh as the instance image and enrolled into Netbird with a
# one-off setup key.

terraform {
  required_version = ">= 1.5"
  required_providers {
    hcloud = {
      source  = "hetznercloud/hcloud"
      version = "~> 1.48"
    }
  }
}

locals {
  name       = "claude-${var.user_id}"
  subnet     = "10.100.${var.subnet_index}.0/24"
  private_ip = "10.100.${var.subnet_index}.10"
  labels = {
    "claudecloud/user"     = var.user_id
    "claudecloud/instance" = var.instance_id
  }
}

resource "hcloud_network" "this" {
  name     = local.name
  ip_range = local.subnet
  labels   = local.labels
}

resource "hcloud_network_subnet" "this" {
  network_id   = hcloud_network.this.id
  type         = "cloud"
  network_zone = "eu-central"
  ip_range     = local.subnet
}

resource "hcloud_volume" "data" {
  name     = "claude-data-${var.user_id}"
  size     = var.volume_size_gb
  location = var.location
  format   = "ext4"
  labels   = local.labels

  lifecycle {
    prevent_destroy = false # a purge removes it; pause and destroy keep it (server only)
  }
}

resource "hcloud_server" "this" {
  count       = var.server_enabled ? 1 : 0
  name        = local.name
  server_type = var.server_type
  image       = var.image
  location    = var.location
  labels      = local.labels
  user_data = templatefile("${path.module}/cloud-init.yaml.tftpl", {
    setup_script = var.setup_script
    setup_key    = var.setup_key
    agent_secret = var.agent_secret
    agent_port   = var.agent_port
    instance_id  = var.instance_id
    gateway_url  = var.gateway_url
    volume_id    = hcloud_volume.data.id
    hostname     = local.name
  })

  network {
    network_id = hcloud_network.this.id
    ip         = local.private_ip
  }

  depends_on = [hcloud_network_subnet.this]
}

resource "hcloud_volume_attachment" "data" {
  count     = var.server_enabled ? 1 : 0
  volume_id = hcloud_volume.data.id
  server_id = hcloud_server.this[0].id
  automount = true
}
