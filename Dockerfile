# The jumpcache image: nothing but the binary, its shared libraries and the files DNS
# resolution reads. Built FROM scratch with files the host built (no registry is needed):
# run deploy/build-image.sh, which stages them in target/docker-root/ and builds this.
FROM scratch
COPY target/docker-root/ /
# Listen on every interface of the container (each subcommand's --bind; a flag still wins).
ENV JUMPCACHE_BIND=0.0.0.0
# A numeric user: Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 10001:10001
# RESP (router/cluster 6379, shard 7001) and the admin port (/metrics, /healthz, /readyz).
EXPOSE 6379 7001 9121
ENTRYPOINT ["/usr/local/bin/jumpcache"]
CMD ["cluster"]
