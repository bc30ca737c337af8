"""Neural networks: sphere-aware VAE and the latent score model."""
