# Read by gunicorn from the working directory. The access log leaves out query strings: SDKs put
# `access_token` there, and the token endpoint receives `client_secret` there.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
accesslog = "-"
timeout = 120
