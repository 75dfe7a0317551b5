{{/* The chart's name, truncated for label values. */}}
{{- define "flashguard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped base name of every object; the release name alone when it already holds the chart's. */}}
{{- define "flashguard.fullname" -}}
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

{{- define "flashguard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "flashguard.labels" -}}
helm.sh/chart: {{ include "flashguard.chart" . }}
app.kubernetes.io/name: {{ include "flashguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: flashguard
{{- end }}

{{/* The operator's labels: the common ones plus its component. */}}
{{- define "flashguard.operator.labels" -}}
{{ include "flashguard.labels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/* What selects the operator's pods: stable across upgrades (no version, no chart). */}}
{{- define "flashguard.operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flashguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "flashguard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "flashguard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Object names. */}}
{{- define "flashguard.webhookService" -}}{{ include "flashguard.fullname" . }}-webhook{{- end }}
{{- define "flashguard.metricsService" -}}{{ include "flashguard.fullname" . }}-metrics{{- end }}
{{- define "flashguard.webhookConfig" -}}{{ include "flashguard.fullname" . }}-inject{{- end }}
{{- define "flashguard.webhookSecret" -}}{{ default (printf "%s-webhook-tls" (include "flashguard.fullname" .)) .Values.webhook.secretName }}{{- end }}
{{- define "flashguard.leaseName" -}}{{ include "flashguard.fullname" . }}{{- end }}

{{/* The DNS names the webhook's serving certificate must carry: the Service's. */}}
{{- define "flashguard.webhookHosts" -}}
{{- $svc := include "flashguard.webhookService" . -}}
{{ $svc }}.{{ .Release.Namespace }}.svc,{{ $svc }}.{{ .Release.Namespace }}.svc.cluster.local
{{- end }}

{{/* repository:tag or repository@digest, tag defaulting to the appVersion. */}}
{{- define "flashguard.image" -}}
{{- $image := index . 0 -}}
{{- $root := index . 1 -}}
{{- if $image.digest -}}
{{ $image.repository }}@{{ $image.digest }}
{{- else -}}
{{ $image.repository }}:{{ default $root.Chart.AppVersion $image.tag }}
{{- end -}}
{{- end }}

{{/* The Redis the operator uses by default: a Secret (preferred) or a URL; one is required. */}}
{{- define "flashguard.redisArgs" -}}
{{- if .Values.operator.redis.secretName }}
- --redis-secret={{ .Values.operator.redis.secretName }}
{{- else if .Values.operator.redis.url }}
- --redis={{ .Values.operator.redis.url }}
{{- else }}
{{- fail "set operator.redis.secretName (a Secret with key url in the release namespace) or operator.redis.url" }}
{{- end }}
{{- end }}

{{/* The cert-manager Issuer the webhook's Certificate uses. */}}
{{- define "flashguard.issuerRef" -}}
{{- if .Values.webhook.certManager.issuerRef }}
{{- toYaml .Values.webhook.certManager.issuerRef }}
{{- else }}
name: {{ include "flashguard.fullname" . }}-selfsigned
kind: Issuer
group: cert-manager.io
{{- end }}
{{- end }}

{{/* The alert's runbook link: one anchor per alert in docs/alerts.md. */}}
{{- define "flashguard.runbook" -}}
{{- printf "%s#%s" (index . 0).Values.prometheusRule.runbookBaseUrl (index . 1 | lower) }}
{{- end }}

{{/* Non-empty when the in-cluster operator serves the webhook with cert-manager's certificate. */}}
{{- define "flashguard.certManagerTls" -}}
{{- if and .Values.webhook.enabled (not .Values.webhook.url) .Values.webhook.certManager.enabled }}true{{ end }}
{{- end }}
