"""Hi-MPC skeleton re-identification: layouts, model, loss, clustering, training, evaluation, datasets."""
