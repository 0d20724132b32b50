"""Docker and the images brandmon builds locally: the daemon, the bases, the brandmon image.

`docker` makes a daemon answer (installing and starting it where the project may);
`images` builds the Python base image from Debian packages, the wheelhouse from uv.lock and
the brandmon image from the Dockerfile, each cached by a tag that names its inputs.
"""
