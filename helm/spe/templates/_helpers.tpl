{{/* Name of the release's objects. */}}
{{- define "spe.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "spe.labels" -}}
app.kubernetes.io/name: spe
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector of one component's pods ("api" or "controller"). Project workspaces reach
     the control plane's API pods by app.kubernetes.io/name=spe and component=api. */}}
{{- define "spe.selector" -}}
app.kubernetes.io/name: spe
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "spe.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Environment shared by both processes: settings from the ConfigMap, secrets by reference. */}}
{{- define "spe.env" -}}
- name: SPE_DATABASE_URL
  valueFrom: {secretKeyRef: {name: {{ .Values.secrets.database.name }}, key: {{ .Values.secrets.database.key }}}}
- name: SPE_SESSION_SECRET
  valueFrom: {secretKeyRef: {name: {{ .Values.secrets.session.name }}, key: {{ .Values.secrets.session.key }}}}
- name: SPE_OIDC_CLIENT_SECRET
  valueFrom: {secretKeyRef: {name: {{ .Values.secrets.oidc.name }}, key: {{ .Values.secrets.oidc.key }}}}
- name: SPE_PSEUDONYMISATION_SECRET
  valueFrom: {secretKeyRef: {name: {{ .Values.secrets.pseudonymisation.name }}, key: {{ .Values.secrets.pseudonymisation.key }}}}
- name: SPE_S3_ACCESS_KEY
  valueFrom: {secretKeyRef: {name: {{ .Values.secrets.s3.name }}, key: {{ .Values.secrets.s3.accessKey }}}}
- name: SPE_S3_SECRET_KEY
  valueFrom: {secretKeyRef: {name: {{ .Values.secrets.s3.name }}, key: {{ .Values.secrets.s3.secretKey }}}}
{{- end -}}

{{/* Pod-level settings shared by both Deployments. */}}
{{- define "spe.podCommon" -}}
enableServiceLinks: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
volumes:
  - name: tmp
    emptyDir: {}
  - name: data
    emptyDir: {}
  - name: signing-keys
    secret:
      secretName: {{ .Values.secrets.signingKeys.name }}
      defaultMode: 0400
{{- end -}}

{{- define "spe.mounts" -}}
- {name: tmp, mountPath: /tmp}
- {name: data, mountPath: /var/lib/spe}
- {name: signing-keys, mountPath: /var/run/spe/keys, readOnly: true}
{{- end -}}
