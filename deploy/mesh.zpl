#   The demo mesh on three hosts, with security on (docs/deploy.md).
#   On each host: zmesh up /etc/zmesh/mesh.zpl starts the nodes of that
#   host (the one whose address is here), or use zmesh@.service.
mesh
    programs = /usr/local/bin
    run = /run/zmesh
host
    a = 10.0.0.1
    b = 10.0.0.2
    c = 10.0.0.3
node
    user
        host = a
        events = tcp://10.0.0.1:7710
        calls = tcp://10.0.0.1:7711
        data = /var/lib/zmesh/user
        set
            security/cert = /etc/zmesh/keys/user.cert
            security/keys = /etc/zmesh/keys
            access/admins = ops
            access/calls/gateway = "user.create user.get"
            access/calls/order = user.get
    gateway
        host = a
        events = tcp://10.0.0.1:7750
        calls = tcp://10.0.0.1:7751
        data = /var/lib/zmesh/gateway
        peers = "user order"
        set
            service/http_port = 8080
            service/http_host = 0.0.0.0
            security/cert = /etc/zmesh/keys/gateway.cert
            security/keys = /etc/zmesh/keys
            access/admins = ops
    order
        host = b
        events = tcp://10.0.0.2:7720
        calls = tcp://10.0.0.2:7721
        data = /var/lib/zmesh/order
        peers = "user inventory payment"
        set
            security/cert = /etc/zmesh/keys/order.cert
            security/keys = /etc/zmesh/keys
            access/admins = ops
            access/calls/gateway = "order.create order.get"
            access/publish/inventory = "inventory.*"
            access/publish/payment = "payment.*"
    inventory
        host = c
        events = tcp://10.0.0.3:7730
        calls = tcp://10.0.0.3:7731
        data = /var/lib/zmesh/inventory
        peers = "order"
        set
            security/cert = /etc/zmesh/keys/inventory.cert
            security/keys = /etc/zmesh/keys
            access/admins = ops
            access/publish/order = "order.*"
    payment
        host = c
        events = tcp://10.0.0.3:7740
        calls = tcp://10.0.0.3:7741
        data = /var/lib/zmesh/payment
        peers = "inventory"
        set
            security/cert = /etc/zmesh/keys/payment.cert
            security/keys = /etc/zmesh/keys
            access/admins = ops
            access/publish/inventory = "inventory.*"
