/**
 * Demo Clinic's registration document: rules for the web
 * flow, every capability, and the logo, privacy policy and terms carevault's consent page shows
 * (RFC 7591 §2). `demoUrl` is where Demo Clinic is served.
 */
export function demoRegistration(demoUrl: string) {
  return {
    client_name: 'Demo Clinic',
    redirect_uris: [`${demoUrl}/callback`],
    logo_uri: `${demoUrl}/logo.svg`,
    policy_uri: `${demoUrl}/privacy`,
    tos_uri: `${demoUrl}/terms`,
    token_endpoint_auth_method: 'client_secret_basic',
    rules: [
      { scope: 'patient/Observation.cruds', required: true, reason: 'Show your weights and add the ones we measure' },
      { scope: 'patient/Condition.rs', required: false, reason: 'Know your conditions before your visit' },
      { scope: 'offline_access', required: false, reason: 'Send you results while you are away' },
    ],
    capabilities: ['dopu', 'connect', 'direct'],
  };
}
