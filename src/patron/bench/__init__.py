"""`make bench`: Patron's pages under real HTTP load (gunicorn + wrk) and its catalog services in process."""
