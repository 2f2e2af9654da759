"""Making images: `docker commit` (a container's changes on top of its image) and Dockerfile builds."""
