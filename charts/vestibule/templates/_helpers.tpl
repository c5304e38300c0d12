{{/* The chart's name, or nameOverride. */}}
{{- define "vestibule.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The name of the release's objects: the release name alone when it already
holds the chart's name (`helm install vestibule` gives `vestibule`).
*/}}
{{- define "vestibule.fullname" -}}
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

{{- define "vestibule.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "vestibule.labels" -}}
helm.sh/chart: {{ include "vestibule.chart" . }}
{{ include "vestibule.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
What the Deployment, Service, PodDisruptionBudget and spreading select pods
by. Not the gateway labels: those are a value, and a Deployment's selector
cannot change after it is created.
*/}}
{{- define "vestibule.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vestibule.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "vestibule.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vestibule.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The gateway labels as --labels takes them: KEY=VALUE,KEY=VALUE. */}}
{{- define "vestibule.labelsArg" -}}
{{- $pairs := list }}
{{- range $key, $value := .Values.labels }}
{{- $pairs = append $pairs (printf "%s=%s" $key $value) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}
