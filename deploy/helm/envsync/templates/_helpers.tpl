{{/* Names and labels. */}}
{{- define "envsync.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "envsync.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "envsync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "envsync.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "envsync.selectorLabels" -}}
app.kubernetes.io/name: {{ include "envsync.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "envsync.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "envsync.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "envsync.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
envsync.workers is the list of workers as YAML: the central one (if
enabled) and one per host, each with its component name (DNS label), the
chart's own `envsync worker` arguments and its settings, hostDefaults
merged into each host's.
*/}}
{{- define "envsync.workers" -}}
{{- $workers := list }}
{{- if .Values.central.enabled }}
{{- $args := list "worker" "--central" "--no-host" }}
{{- $workers = append $workers (dict "component" "central" "host" "" "args" $args "w" .Values.central) }}
{{- end }}
{{- $seen := dict }}
{{- range $i, $h := .Values.hosts }}
{{- if not $h.name }}
{{- fail (printf "hosts[%d]: name is required: the worker_host of the tasks this worker runs" $i) }}
{{- end }}
{{- $slug := regexReplaceAll "[^a-z0-9-]+" (lower (toString $h.name)) "-" | trimAll "-" }}
{{- if hasKey $seen $slug }}
{{- fail (printf "hosts: %q and %q both make worker name host-%s; give hosts distinct names" (get $seen $slug) $h.name $slug) }}
{{- end }}
{{- $_ := set $seen $slug (toString $h.name) }}
{{- $d := $.Values.hostDefaults }}
{{- $w := dict
    "replicas" (hasKey $h "replicas" | ternary $h.replicas $d.replicas)
    "flags" (mergeOverwrite (deepCopy ($d.flags | default dict)) (deepCopy ($h.flags | default dict)))
    "env" (concat ($d.env | default list) ($h.env | default list))
    "envFrom" (concat ($d.envFrom | default list) ($h.envFrom | default list))
    "secretFiles" (concat ($d.secretFiles | default list) ($h.secretFiles | default list))
    "resources" ($h.resources | default $d.resources)
    "podAnnotations" (mergeOverwrite (deepCopy ($d.podAnnotations | default dict)) (deepCopy ($h.podAnnotations | default dict)))
    "nodeSelector" ($h.nodeSelector | default $d.nodeSelector)
    "tolerations" ($h.tolerations | default $d.tolerations)
    "affinity" ($h.affinity | default $d.affinity) }}
{{- $args := list "worker" (printf "--host=%s" $h.name) "--lock-dir=/tmp/envsync-locks" }}
{{- $workers = append $workers (dict "component" (printf "host-%s" $slug) "host" (toString $h.name) "args" $args "w" $w) }}
{{- end }}
{{- toYaml (dict "workers" $workers) }}
{{- end }}

{{/* envsync.flagArgs renders a flags map as --name=value arguments, a list as the flag repeated. */}}
{{- define "envsync.flagArgs" -}}
{{- range $k, $v := . }}
{{- if has $k (list "central" "no-host" "host" "metrics-listen" "temp-dir" "lock-dir") }}
{{- fail (printf "flags: --%s is set by the chart (worker kind, host name, metrics.port, dumpVolume); remove it from flags" $k) }}
{{- end }}
{{- if kindIs "slice" $v }}
{{- range $v }}
- {{ printf "--%s=%v" $k . | toJson }}
{{- end }}
{{- else if not (kindIs "invalid" $v) }}
- {{ printf "--%s=%v" $k $v | toJson }}
{{- end }}
{{- end }}
{{- end }}

{{/* envsync.temporalEnv: the TEMPORAL_* variables of every pod. */}}
{{- define "envsync.temporalEnv" -}}
- name: TEMPORAL_ADDRESS
  value: {{ .Values.temporal.address | quote }}
- name: TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
{{- with .Values.temporal.tls }}
{{- if .enabled }}
- name: TEMPORAL_TLS
  value: "true"
{{- if .clientCert }}
- name: TEMPORAL_TLS_CLIENT_CERT_PATH
  value: {{ printf "/etc/envsync/temporal-tls/%s" .clientCert | quote }}
{{- end }}
{{- if .clientKey }}
- name: TEMPORAL_TLS_CLIENT_KEY_PATH
  value: {{ printf "/etc/envsync/temporal-tls/%s" .clientKey | quote }}
{{- end }}
{{- if .serverCA }}
- name: TEMPORAL_TLS_SERVER_CA_CERT_PATH
  value: {{ printf "/etc/envsync/temporal-tls/%s" .serverCA | quote }}
{{- end }}
{{- if .serverName }}
- name: TEMPORAL_TLS_SERVER_NAME
  value: {{ .serverName | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.temporal.apiKeySecret }}
{{- if .name }}
- name: TEMPORAL_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .name | quote }}
      key: {{ .key | quote }}
{{- end }}
{{- end }}
# The root filesystem is read-only: ssh, libpq and the worker write under /tmp.
- name: HOME
  value: /tmp
- name: TMPDIR
  value: /tmp
{{- end }}

{{/* envsync.commonVolumes / envsync.commonMounts: /tmp, the tasks and Temporal's TLS files. */}}
{{- define "envsync.commonVolumes" -}}
- name: tmp
  emptyDir: {}
{{- if .Values.tasks }}
- name: tasks
  configMap:
    name: {{ include "envsync.fullname" . }}-tasks
{{- end }}
{{- if .Values.temporal.tls.enabled }}
- name: temporal-tls
  secret:
    secretName: {{ required "temporal.tls.secretName is required when temporal.tls.enabled" .Values.temporal.tls.secretName | quote }}
    defaultMode: 288 # 0440: group-readable for fsGroup
{{- end }}
{{- end }}

{{- define "envsync.commonMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.tasks }}
- name: tasks
  mountPath: /etc/envsync/tasks
  readOnly: true
{{- end }}
{{- if .Values.temporal.tls.enabled }}
- name: temporal-tls
  mountPath: /etc/envsync/temporal-tls
  readOnly: true
{{- end }}
{{- end }}

{{- define "envsync.podSpecCommon" -}}
serviceAccountName: {{ include "envsync.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}
