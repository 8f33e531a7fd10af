# Inputs of one user's instance. The hetzner provider (services/provisioner/.../providers/
# hetzner.py) passes exactly these; tests/netbird/test_terraform_module.py keeps the two in step.

variable "user_id" {
  type        = string
  description = "The owner; names every resource (claude-<user_id>)."
}

variable "instance_id" {
  type        = string
  description = "The instance, as a label."
}

variable "subnet_index" {
  type        = number
  description = "n in 10.100.n.0/24, unique per user (allocated by the provider)."
  validation {
    condition     = var.subnet_index >= 1 && var.subnet_index <= 250
    error_message = "subnet_index must be between 1 and 250."
  }
}

variable "server_type" {
  type        = string
  description = "Hetzner server type from the user's plan (cx22, cx32, ...)."
}

variable "location" {
  type        = string
  description = "Hetzner location (fsn1, nbg1, hel1, ...)."
}

variable "image" {
  type        = string
  description = "Operating system image of the server."
}

variable "server_enabled" {
  type        = bool
  description = "false pauses: the server is destroyed, the volume and network stay."
}

variable "volume_size_gb" {
  type        = number
  description = "The persistent data volume (/claude-data); survives pause."
}

variable "agent_port" {
  type        = number
  description = "Where the instance agent listens."
}

variable "setup_script" {
  type        = string
  description = "docker/instance/setup.sh, the same script the instance image runs."
}

variable "setup_key" {
  type        = string
  sensitive   = true
  description = "One-off Netbird setup key for the first server; empty on wake (the peer identity on the volume rejoins)."
}

variable "gateway_url" {
  type        = string
  default     = ""
  description = "The gateway's workstation listener as the server reaches it (AGENT_GATEWAY_URL: git credentials); empty: none."
}

variable "agent_secret" {
  type        = string
  sensitive   = true
  description = "AGENT_SECRET of the instance agent: what the server keeps of the secret (a verifier and the agent's token to the gateway, agent-credential:v1:...), never the secret itself."
}
