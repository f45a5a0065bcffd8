// Passkeys (WebAuthn) for carevault's forms (or their buttons) marked data-passkey="create" (add a
// passkey) or "get" (sign in, or the second step). On submit the data-options address (a POST with
// the form's CSRF token, and the fields data-options-fields names) gives the ceremony's options, the
// browser makes or uses the passkey, and the answer goes back in the form's hidden "credential" field
// as JSON, its binary parts in base64url (WebAuthn Level 3 §5.1). Without this script the form sends no answer and the server says so.
(function () {
  if (!window.fetch || !window.PublicKeyCredential || !navigator.credentials) return;

  function toBytes(text) {
    var base64 = text.replace(/-/g, '+').replace(/_/g, '/');
    while (base64.length % 4) base64 += '=';
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = '';
    for (var i = 0; i < bytes.length; i += 1) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function withBytes(list) {
    return (list || []).map(function (item) {
      return Object.assign({}, item, { id: toBytes(item.id) });
    });
  }

  function creationOptions(options) {
    return Object.assign({}, options, {
      challenge: toBytes(options.challenge),
      user: Object.assign({}, options.user, { id: toBytes(options.user.id) }),
      excludeCredentials: withBytes(options.excludeCredentials),
    });
  }

  function requestOptions(options) {
    return Object.assign({}, options, { challenge: toBytes(options.challenge), allowCredentials: withBytes(options.allowCredentials) });
  }

  function answerOf(credential) {
    var response = credential.response;
    var answer = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toText(response.clientDataJSON) },
    };
    if (credential.authenticatorAttachment) answer.authenticatorAttachment = credential.authenticatorAttachment;
    if (response.attestationObject) {
      answer.response.attestationObject = toText(response.attestationObject);
      if (response.getTransports) answer.response.transports = response.getTransports();
    } else {
      answer.response.authenticatorData = toText(response.authenticatorData);
      answer.response.signature = toText(response.signature);
      if (response.userHandle) answer.response.userHandle = toText(response.userHandle);
    }
    return answer;
  }

  function say(form, words) {
    var place = form.querySelector('.passkey-problem');
    if (!place) return;
    place.textContent = words;
    place.hidden = false;
  }

  // The ceremony belongs to the form (data-passkey on the form: every submit) or to one of its buttons
  // (data-passkey on the button: only that button; the form's other buttons send it as it is).
  document.querySelectorAll('form').forEach(function (form) {
    var field = form.querySelector('input[name="credential"]');
    if (!field) return;
    form.addEventListener('submit', function (event) {
      var trigger = form.hasAttribute('data-passkey') ? form : event.submitter && event.submitter.hasAttribute('data-passkey') ? event.submitter : null;
      if (!trigger || field.value) return;
      event.preventDefault();
      var ceremony = trigger.getAttribute('data-passkey');
      var name = ceremony === 'create' ? form.querySelector('input[name="name"]') : null;
      if (name && !name.value.trim()) {
        say(form, 'Name your passkey first, for example “Phone” or “Laptop”.');
        name.focus();
        return;
      }
      var body = new URLSearchParams();
      body.set('_csrf', form.querySelector('input[name="_csrf"]').value);
      (trigger.getAttribute('data-options-fields') || '').split(' ').forEach(function (extra) {
        var input = extra && form.querySelector('input[name="' + extra + '"]');
        if (input) body.set(extra, input.value);
      });
      fetch(trigger.getAttribute('data-options'), { method: 'POST', body: body, credentials: 'same-origin', headers: { Accept: 'application/json' } })
        .then(function (answer) {
          if (!answer.ok) throw new Error('options');
          return answer.json();
        })
        .then(function (options) {
          return ceremony === 'create'
            ? navigator.credentials.create({ publicKey: creationOptions(options.publicKey) })
            : navigator.credentials.get({ publicKey: requestOptions(options.publicKey) });
        })
        .then(function (credential) {
          if (!credential) throw new Error('none');
          field.value = JSON.stringify(answerOf(credential));
          form.submit();
        })
        .catch(function () {
          say(form, 'No passkey was used. Try again, or choose another way.');
        });
    });
  });
})();
