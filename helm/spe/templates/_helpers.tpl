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

{{/* Environment shared by every container: settings from the ConfigMap are added with
     envFrom; secrets come by reference here. Each name is a field of spe.settings.Settings
     or spe.auth.oidc.config.OidcConfig (tests/helm checks it). */}}
{{- define "spe.env" -}}
- name: SPE_DATABASE_URL
  valueFrom: {secretKeyRef: {name: {{ .Values.secrets.database.name }}, key: {{ .Values.secrets.database.key }}}}
- name: SPE_OIDC_CLIENT_SECRET
  valueFrom: {secretKeyRef: {name: {{ .Values.secrets.oidc.name }}, key: {{ .Values.secrets.oidc.key }}}}
- name: SPE_STORAGE_ACCESS_KEY
  valueFrom: {secretKeyRef: {name: {{ .Values.secrets.storage.name }}, key: {{ .Values.secrets.storage.accessKey }}}}
- name: SPE_STORAGE_SECRET_KEY
  valueFrom: {secretKeyRef: {name: {{ .Values.secrets.storage.name }}, key: {{ .Values.secrets.storage.secretKey }}}}
{{- end -}}

{{/* Where the shared state is mounted (the ConfigMap points the settings there). */}}
{{- define "spe.keysDir" -}}/var/run/spe/keys{{- end -}}
{{- define "spe.dataKeysDir" -}}/var/lib/spe/data-keys{{- end -}}

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
  - name: keys
    secret:
      secretName: {{ .Values.secrets.keys.name }}
      defaultMode: 0440  # group: fsGroup, the processes
  - name: data-keys
    persistentVolumeClaim:
      claimName: {{ .Values.dataKeys.existingClaim }}
  {{- if eq .Values.keyStore.type "pkcs11" }}
  - name: hsm-pin
    secret:
      secretName: {{ .Values.keyStore.pkcs11.pinSecret.name }}
      items: [{key: {{ .Values.keyStore.pkcs11.pinSecret.key }}, path: pin}]
      defaultMode: 0440
  {{- end }}
  {{- if .Values.permits.trustedIssuers }}
  - name: permit-issuers
    configMap:
      name: {{ include "spe.fullname" . }}-permit-issuers
  {{- end }}
{{- end -}}

{{- define "spe.mounts" -}}
- {name: tmp, mountPath: /tmp}
- {name: data, mountPath: /var/lib/spe}
- {name: keys, mountPath: {{ include "spe.keysDir" . }}, readOnly: true}
- {name: data-keys, mountPath: {{ include "spe.dataKeysDir" . }}}
{{- if eq .Values.keyStore.type "pkcs11" }}
- {name: hsm-pin, mountPath: {{ include "spe.hsmPinDir" . }}, readOnly: true}
{{- end }}
{{- if .Values.permits.trustedIssuers }}
- {name: permit-issuers, mountPath: {{ include "spe.permitIssuersDir" . }}, readOnly: true}
{{- end }}
{{- end -}}

{{/* Where the HSM's user PIN is mounted (keyStore.type pkcs11). */}}
{{- define "spe.hsmPinDir" -}}
/var/run/spe/hsm
{{- end -}}

{{/* Where the trusted permit issuers file is mounted. */}}
{{- define "spe.permitIssuersDir" -}}
/etc/spe/permit-issuers
{{- end -}}
