{{/* The chart's name, at most 63 characters. */}}
{{- define "jumpcache.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's resource prefix: the release name when it already holds the chart's name,
else "<release>-<chart>". Kept short (40 characters): shard pods add "-shard-<g>-<m>".
*/}}
{{- define "jumpcache.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "jumpcache.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "jumpcache.labels" -}}
helm.sh/chart: {{ include "jumpcache.chart" . }}
{{ include "jumpcache.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "jumpcache.selectorLabels" -}}
app.kubernetes.io/name: {{ include "jumpcache.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "jumpcache.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{- define "jumpcache.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "jumpcache.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The headless Service that gives every shard pod its DNS name. */}}
{{- define "jumpcache.shardService" -}}
{{- printf "%s-shard" (include "jumpcache.fullname" .) }}
{{- end }}

{{- define "jumpcache.secretName" -}}
{{- .Values.auth.existingSecret | default (printf "%s-auth" (include "jumpcache.fullname" .)) }}
{{- end }}

{{/*
The shard groups in bucket order, as a list of "member|member" strings: member m of group g
is pod m of StatefulSet <fullname>-shard-<g>, by its stable name under the headless Service.
The first topology.groups of them (all when it is 0): a shrink takes groups out of the
topology first and deletes their StatefulSets once their keys have moved.
*/}}
{{- define "jumpcache.groups" -}}
{{- $full := include "jumpcache.fullname" . }}
{{- $svc := include "jumpcache.shardService" . }}
{{- $groups := list }}
{{- $n := int (.Values.topology.groups | default .Values.shards.groups) }}
{{- if gt $n (int .Values.shards.groups) }}
{{- fail "topology.groups must be at most shards.groups: a group's shards must run before it is in the topology" }}
{{- end }}
{{- range $g := until $n }}
{{- $members := list }}
{{- range $m := until (add1 (int $.Values.shards.replicas) | int) }}
{{- $members = append $members (printf "%s-shard-%d-%d.%s.%s.svc.%s:%d" $full $g $m $svc $.Release.Namespace $.Values.clusterDomain (int $.Values.shards.port)) }}
{{- end }}
{{- $groups = append $groups (join "|" $members) }}
{{- end }}
{{- toJson $groups }}
{{- end }}

{{/* Pod anti-affinity by `mode` (soft, hard, none) over nodes, for pods with `labels`. */}}
{{- define "jumpcache.antiAffinity" -}}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" .labels) }}
{{- if eq .mode "hard" }}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - {{- toYaml $term | nindent 6 }}
{{- else if eq .mode "soft" }}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        {{- toYaml $term | nindent 8 }}
{{- end }}
{{- end }}

{{/* Refuses values the chart cannot deploy. */}}
{{- define "jumpcache.validate" -}}
{{- if .Values.tls.enabled }}
{{- fail "tls.enabled: this jumpcache release has no TLS; leave it false" }}
{{- end }}
{{- if lt (int .Values.shards.groups) 1 }}
{{- fail "shards.groups must be at least 1" }}
{{- end }}
{{- if or (lt (int .Values.shards.replicas) 0) (gt (int .Values.shards.replicas) 31) }}
{{- fail "shards.replicas must be between 0 and 31 (at most 32 members per group)" }}
{{- end }}
{{- if and .Values.auth.enabled (not .Values.auth.existingSecret) (not (and .Values.auth.password .Values.auth.shardPassword)) }}
{{- fail "auth.enabled: set auth.existingSecret, or both auth.password and auth.shardPassword" }}
{{- end }}
{{- end }}
