"""Historical replay of another hotline's records through the real pipeline (`hotline replay`)."""
