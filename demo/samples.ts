/**
 * What Demo Clinic sends: FHIR resources (a weight, lab results) and a one-page PDF.
 */

export function weightObservation(kg: number) {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }], text: 'Body weight' },
    effectiveDateTime: new Date().toISOString(),
    valueQuantity: { value: kg, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
  };
}

/** A glucose result and the condition it is about, as a clinic would hand them over. */
export function labResults() {
  const today = new Date().toISOString().slice(0, 10);
  return [
    {
      resourceType: 'Observation',
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
      code: { coding: [{ system: 'http://loinc.org', code: '2339-0', display: 'Glucose [Mass/volume] in Blood' }], text: 'Blood glucose' },
      subject: { reference: 'Patient/demo-clinic-patient' },
      effectiveDateTime: today,
      valueQuantity: { value: 95, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
    },
    {
      resourceType: 'Condition',
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'resolved' }] },
      code: { coding: [{ system: 'http://snomed.info/sct', code: '73211009', display: 'Diabetes mellitus' }], text: 'Diabetes check: not diabetic' },
      // FHIR R4 requires a Condition's subject: the clinic's own patient, re-pointed by carevault at the record the person chooses.
      subject: { reference: 'Patient/demo-clinic-patient' },
      recordedDate: today,
    },
  ];
}

const PDF = `%PDF-1.4
1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj
2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj
3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 320 120] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >> endobj
4 0 obj << /Length 58 >> stream
BT /F1 16 Tf 20 60 Td (Demo Clinic: lab results, all normal) Tj ET
endstream endobj
5 0 obj << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> endobj
trailer << /Root 1 0 R >>
%%EOF
`;

export const SAMPLE_PDF_BASE64 = Buffer.from(PDF, 'latin1').toString('base64');
