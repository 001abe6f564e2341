"""Your own model (``my_vae.TinyVAE``) benchmarked on your own tensors (``make_data.py``): see README.md here."""
