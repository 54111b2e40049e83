vcl 4.1;
# Varnish as the CDN in front of the balancer, set up the way CDNs
# commonly are: the cookie is forwarded to the origin but is not part of
# the cache key, and the origin's Cache-Control alone decides what is kept
# and for how long (Varnish's built-in rules: no-store, no-cache and
# private are never stored; Vary is honoured). Personal answers stay out
# of the cache only because mrpt marks them so.
#
# local-topology.sh fills in the balancer's port.

backend balancer {
    .host = "127.0.0.1";
    .port = "@BALANCER_PORT@";
}

sub vcl_recv {
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    # Varnish's own rule would pass every request carrying a Cookie; a
    # CDN looks every GET up in its cache, cookie or not.
    return (hash);
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
